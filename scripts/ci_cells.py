"""The migration matrix's cells for CI, from `nox -l --json` on stdin.

    nox -l --json | python scripts/ci_cells.py   ->   ["pg17-ts2.19", ...]

The workflow (.github/workflows/migrations.yml) builds its job matrix from this, so
a row added to devdb/images/table.py is a CI job without touching the workflow.
Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def migration_cells(nox_sessions: list[dict[str, Any]]) -> list[str]:
    return [
        session["call_spec"]["image"]
        for session in nox_sessions
        if session.get("name") == "migrations"
        and "image" in session.get("call_spec", {})
    ]


if __name__ == "__main__":
    print(json.dumps(migration_cells(json.load(sys.stdin))))
