"""db.lint fails when squawk fails: a silent squawk must not pass every revision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.lint.squawk import parse_findings
from devdb.settings import PROJECT_ROOT

FINDING = '[{"file": "x.sql", "line": 0, "rule_name": "prefer-robust-stmts"}]'


def test_clean_and_found_are_squawks_two_answers() -> None:
    assert parse_findings(0, "[]", "") == []
    assert parse_findings(1, FINDING, "")[0]["rule_name"] == "prefer-robust-stmts"


@pytest.mark.parametrize(
    ("code", "stdout", "stderr", "says"),
    [
        (2, "", "", "exit status 2): it printed nothing"),
        (2, "", "error: invalid value 'x' for '--exclude <rule>'", "invalid value"),
        (0, "", "", "it printed nothing"),  # no JSON at all is no answer
        (1, "[]", "", "exit status 1"),  # findings said, none given
        (0, FINDING, "", "exit status 0"),  # findings with a clean status
        (101, "not json", "thread panicked", "thread panicked"),
    ],
)
def test_anything_else_is_a_failure(
    code: int, stdout: str, stderr: str, says: str
) -> None:
    with pytest.raises(DevDbError, match="squawk failed") as failed:
        parse_findings(code, stdout, stderr)
    assert says in failed.value.message
    assert "requirements.txt" in failed.value.tip


def test_db_lint_exits_non_zero_with_a_squawk_that_exits_2_saying_nothing(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "squawk"
    fake.write_text("#!/bin/sh\nexit 2\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "db.lint", "--all"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    tips = [line for line in output.splitlines() if line.startswith("TIP: ")]
    assert len(errors) == 1 and "squawk failed (exit status 2)" in errors[0], output
    assert len(tips) == 1, output
    assert "Traceback" not in output
