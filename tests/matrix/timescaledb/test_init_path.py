"""The docker-compose init path (db/migrations/*.sql run by the entrypoint) gives
Alembic head's schema, already stamped at head, so upgrading finds nothing to do."""

from __future__ import annotations

from devdb.schema import migrations, revisions
from devdb.schema.dump import dump_diff, dump_schema


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


def test_it_arrives_stamped_at_head_and_upgrade_changes_nothing(
    init_path_cell,
) -> None:
    settings = init_path_cell.settings
    heads = tuple(revisions.heads(settings.script_location))
    assert migrations.current(settings) == heads
    stamped = dump_schema(init_path_cell.container, settings)

    assert migrations.upgrade(settings, "head") == []

    upgraded = dump_schema(init_path_cell.container, settings)
    assert upgraded == stamped, dump_diff(
        stamped, upgraded, "after stamp", "after upgrade"
    )
