"""Plain PostgreSQL: no schema, but the designed error, in one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.settings import PROJECT_ROOT


def test_upgrade_fails_naming_the_missing_extension(cell) -> None:
    with pytest.raises(DevDbError) as caught:
        migrations.upgrade(cell.settings, "head")

    print(caught.value.render())
    assert "timescaledb" in caught.value.message
    assert "extension" in caught.value.message
    assert caught.value.tip.strip()
    assert migrations.current(cell.settings) == (), "nothing may be half-applied"


def test_alembic_cli_says_so_in_one_line(cell) -> None:
    password = cell.settings.password
    result = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "upgrade", "head"],
        cwd=PROJECT_ROOT / "backend",
        env={
            **os.environ,
            "DATABASE_URL": cell.settings.url().render_as_string(hide_password=False),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    print(output)
    lines = [line for line in output.splitlines() if line.strip()]

    assert result.returncode != 0
    assert "Traceback" not in output
    assert password not in output
    errors = [line for line in lines if "timescaledb" in line]
    assert len(errors) == 1, f"expected one line naming timescaledb, got:\n{output}"
    assert errors[0] == lines[0], f"the error should come first:\n{output}"
    assert all(line == errors[0] or line.startswith("TIP:") for line in lines), output
