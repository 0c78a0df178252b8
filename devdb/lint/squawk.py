"""squawk, PostgreSQL's migration linter (PyPI ``squawk-cli``), run as a process.

Its JSON reporter gives one finding per item; ``SQUAWK_EXCLUDED`` says which of its
rules the project leaves out and why. Mapping findings back to revision lines is
``devdb.lint.run``'s work.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from devdb.errors import DevDbError
from devdb.lint.rules import SQUAWK_EXCLUDED


def squawk_binary() -> str:
    found = shutil.which("squawk")
    if found is None:
        # The venv's bin directory is not always on PATH (`.venv/bin/invoke ...`).
        candidate = Path(sys.executable).parent / "squawk"
        if candidate.is_file():
            return str(candidate)
        raise DevDbError(
            "squawk is not installed, and db.lint runs it",
            "install the toolkit's requirements: .venv/bin/pip install -r requirements.txt",
        )
    return found


def run_squawk(sql_files: list[Path]) -> list[dict[str, object]]:
    """squawk's findings over the files (its JSON reporter), or a DevDbError."""
    if not sql_files:
        return []
    command = [
        squawk_binary(),
        "--reporter",
        "json",
        f"--exclude={','.join(SQUAWK_EXCLUDED)}",
        *map(str, sql_files),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    try:
        parsed = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise DevDbError(
            f"squawk failed: {reason[0] if reason else f'exit {completed.returncode}'}",
            "run it by hand on the revision's SQL (`invoke db.upgrade --sql`) to see why",
        ) from None
    return [item for item in parsed if isinstance(item, dict)]
