"""The docker-compose init path (db/migrations/*.sql run by the entrypoint) gives
Alembic head's schema, and `alembic stamp head` adopts such a database."""

from __future__ import annotations

from devdb import migrations, revisions
from devdb.dump import dump_diff, dump_schema


def test_init_path_schema_equals_alembic_head(init_path_cell, head_database) -> None:
    from_init_sql = dump_schema(
        init_path_cell.container, init_path_cell.settings, include_revision=False
    )
    from_alembic = dump_schema(
        head_database.container, head_database.settings, include_revision=False
    )
    assert from_init_sql == from_alembic, dump_diff(
        from_alembic, from_init_sql, "alembic head", "docker-compose init path"
    )


def test_stamp_head_adopts_it_and_upgrade_changes_nothing(init_path_cell) -> None:
    settings = init_path_cell.settings
    assert migrations.current(settings) == ()
    migrations.stamp(settings, "head")
    assert migrations.current(settings) == tuple(
        revisions.heads(settings.script_location)
    )
    stamped = dump_schema(init_path_cell.container, settings)

    migrations.upgrade(settings, "head")

    upgraded = dump_schema(init_path_cell.container, settings)
    assert upgraded == stamped, dump_diff(
        stamped, upgraded, "after stamp", "after upgrade"
    )
