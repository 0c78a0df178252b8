"""Empty -> head on this cell's image: the hypertables db/schema.sql records."""

from __future__ import annotations

from helpers import SEED_HYPERTABLES, committed_dimensions, committed_hypertables
from sqlalchemy import text

from devdb.database import connect
from devdb.images.table import ImageSpec
from devdb.schema import migrations, revisions


def test_upgrade_from_empty_to_head_creates_the_committed_hypertables(
    head_database,
) -> None:
    with connect(head_database.settings) as connection:
        hypertables = (
            connection.execute(
                text(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables"
                    " WHERE hypertable_schema = 'public'"
                )
            )
            .scalars()
            .all()
        )
        dimensions = connection.execute(
            text(
                "SELECT hypertable_name, column_name, dimension_type"
                "  FROM timescaledb_information.dimensions"
                " WHERE hypertable_schema = 'public'"
            )
        ).all()
    assert set(hypertables) == set(committed_hypertables())
    assert set(hypertables) >= SEED_HYPERTABLES
    assert {
        (table, column, kind.lower()) for table, column, kind in dimensions
    } == committed_dimensions()


def test_head_is_recorded_and_single(head_database) -> None:
    heads = revisions.heads(head_database.settings.script_location)
    assert len(heads) == 1, f"expected one head, found {heads}"
    assert migrations.current(head_database.settings) == tuple(heads)


def test_server_matches_the_image_table(head_database, cell_spec: ImageSpec) -> None:
    with connect(head_database.settings) as connection:
        major = connection.execute(
            text("SELECT current_setting('server_version_num')::int / 10000")
        ).scalar()
        extversion = connection.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        ).scalar()
    assert major == cell_spec.postgres_major
    assert cell_spec.timescaledb is not None
    assert extversion and extversion.startswith(cell_spec.timescaledb), (
        f"{cell_spec.id} should run TimescaleDB {cell_spec.timescaledb}*, got {extversion}"
    )
