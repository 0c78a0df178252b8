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
    return parse_findings(completed.returncode, completed.stdout, completed.stderr)


# squawk's exit status: 0 when nothing was found, 1 when it reports findings;
# anything else (2: it refused its arguments) means it did not lint at all.
CLEAN, FOUND = 0, 1


def parse_findings(code: int, stdout: str, stderr: str) -> list[dict[str, object]]:
    """squawk's findings from its exit status and JSON output, or a DevDbError.

    A squawk that fails must fail the lint: a silent one would pass every
    revision with its findings left unsaid.
    """
    reason = (stderr.strip() or stdout.strip()).splitlines()
    try:
        parsed = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    findings = (
        [item for item in parsed if isinstance(item, dict)]
        if isinstance(parsed, list)
        else None
    )
    if code == CLEAN and findings is not None and not findings:
        return []
    if code == FOUND and findings:
        return findings
    said = reason[0] if reason else "it printed nothing"
    raise DevDbError(
        f"squawk failed (exit status {code}): {said}",
        "check the squawk it runs (`squawk --version`; the toolkit is tested with "
        "the squawk-cli range in requirements.txt: `.venv/bin/pip install -r "
        "requirements.txt`), then run `invoke db.lint` again",
    )
