"""lock_timeout / statement_timeout for migration sessions, on a real server.

One database at head for the module (the devdb_module_database fixture); each
test adds its own revision to a private copy of backend/alembic and runs it
through the toolkit's upgrade.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.settings import PROJECT_ROOT, Settings


@pytest.fixture(scope="module")
def database(devdb_module_database) -> Settings:
    """A database at head for the module, from the test databases' template."""
    return devdb_module_database.settings


def with_revision(
    tmp_path: Path, name: str, upgrade_sql: str, downgrade_sql: str = "SELECT 1"
) -> str:
    """A copy of backend/alembic plus one revision on top of head."""
    copy = tmp_path / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "backend" / "alembic",
        copy,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    versions = copy / "versions"
    head = sorted(p.stem.split("_")[0] for p in versions.glob("*.py"))[-1]
    (versions / f"{name}.py").write_text(
        f'"""{name}"""\nfrom alembic import op\n\nrevision = "{name}"\n'
        f'down_revision = "{head}"\n\n\ndef upgrade() -> None:\n'
        f"    op.execute({upgrade_sql!r})\n\n\ndef downgrade() -> None:\n"
        f"    op.execute({downgrade_sql!r})\n",
        encoding="utf-8",
    )
    return str(copy)


def test_migration_sessions_run_under_the_configured_timeouts(database, tmp_path):
    script = with_revision(
        tmp_path,
        "zz_timeouts_seen",
        "CREATE TABLE zz_timeouts_seen AS SELECT"
        " current_setting('lock_timeout') AS lock_timeout,"
        " current_setting('statement_timeout') AS statement_timeout",
        "DROP TABLE zz_timeouts_seen",
    )
    chosen = replace(
        database, migration_lock_timeout="3s", migration_statement_timeout="10min"
    )
    migrations.run_command(chosen, "upgrade", "head", script_location=script)
    with connect(database) as connection:
        seen = connection.exec_driver_sql(
            "SELECT lock_timeout, statement_timeout FROM zz_timeouts_seen"
        ).one()
    migrations.run_command(chosen, "downgrade", "-1", script_location=script)
    assert tuple(seen) == ("3s", "10min")


def test_ddl_behind_a_lock_gives_up_with_a_clear_error(database, tmp_path):
    script = with_revision(
        tmp_path, "zz_blocked", "ALTER TABLE tick_data ADD COLUMN venue text"
    )
    chosen = replace(database, migration_lock_timeout="300ms")
    with connect(database) as holder:
        # An open transaction that read the table holds ACCESS SHARE until it ends.
        holder.exec_driver_sql("SELECT count(*) FROM tick_data").scalar()
        with pytest.raises(DevDbError, match="gave up waiting for a table lock") as e:
            migrations.run_command(chosen, "upgrade", "head", script_location=script)
        holder.rollback()
    assert "DEVDB_MIGRATION_LOCK_TIMEOUT" in e.value.tip
    with connect(database) as connection:
        columns = connection.exec_driver_sql(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'tick_data' AND column_name = 'venue'"
        ).scalar()
    assert columns == 0
