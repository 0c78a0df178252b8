"""CI's jobs, from `nox -l --json` on stdin: every default nox session runs in one.

    nox -l --json | python scripts/ci_cells.py           ->  ["pg17-ts2.19", ...]
    nox -l --json | python scripts/ci_cells.py --jobs    ->  fast=[...]  (one a line)
                                                             offline=[...]
                                                             sessions=[...]

`--jobs` prints the lines the workflow (.github/workflows/ci.yml) writes to
$GITHUB_OUTPUT; each names the sessions of one kind of job, by the tags the
noxfile gives them:
  fast      tagged "fast" (no Docker): one job runs them all;
  offline   tagged "offline-images": one job builds the offline images (root,
            debootstrap, the build cache), then runs them;
  sessions  every other session, each migration cell included: a job each.
So a new session, or a row added to devdb/images/table.py, is a job without an edit
to the workflow. Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import sys
from typing import Any

FAST_TAG = "fast"
OFFLINE_IMAGES_TAG = "offline-images"


def migration_cells(nox_sessions: list[dict[str, Any]]) -> list[str]:
    return [
        session["call_spec"]["image"]
        for session in nox_sessions
        if session.get("name") == "migrations"
        and "image" in session.get("call_spec", {})
    ]


def ci_jobs(nox_sessions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The sessions (as `nox -s` takes them) of each kind of job, in nox's order."""
    jobs: dict[str, list[str]] = {"fast": [], "offline": [], "sessions": []}
    for session in nox_sessions:
        tags = session.get("tags") or []
        if FAST_TAG in tags:
            kind = "fast"
        elif OFFLINE_IMAGES_TAG in tags:
            kind = "offline"
        else:
            kind = "sessions"
        jobs[kind].append(session["session"])
    return jobs


def main(arguments: list[str]) -> None:
    listed = json.load(sys.stdin)
    if arguments == ["--jobs"]:
        for kind, sessions in ci_jobs(listed).items():
            print(f"{kind}={json.dumps(sessions, separators=(',', ':'))}")
    elif not arguments:
        print(json.dumps(migration_cells(listed)))
    else:
        sys.exit("usage: nox -l --json | python scripts/ci_cells.py [--jobs]")


if __name__ == "__main__":
    main(sys.argv[1:])
