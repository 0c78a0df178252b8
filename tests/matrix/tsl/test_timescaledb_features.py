"""A revision that uses TimescaleDB for real, written the way the template shows.

A fixture revision on today's head (not a product revision) creates a continuous
aggregate WITH DATA in an ``autocommit_block()`` with its refresh policy, turns on
compression with a compression policy, and adds a retention policy. On every TSL
row it upgrades, round-trips (down, up: the same schema), dumps byte-identically
twice, and its jobs show in the manifest without their creation-order ids.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import (
    FEATURES_REVISION,
    FEATURES_REVISION_ID,
    create_database,
    head_revisions,
)

from devdb.containers.throwaway import ThrowawayDatabase
from devdb.schema import migrations
from devdb.schema.dump import dump_schema
from devdb.schema.roundtrip import alembic_session, round_trip


@pytest.fixture
def features_script(tmp_path: Path, cell: ThrowawayDatabase) -> Path:
    """backend/alembic, copied, with the fixture revision on today's head."""
    script_location = tmp_path / "alembic"
    shutil.copytree(
        cell.settings.script_location,
        script_location,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    [head] = head_revisions()
    (script_location / "versions" / f"{FEATURES_REVISION_ID}.py").write_text(
        FEATURES_REVISION.format(revision=FEATURES_REVISION_ID, head=head)
    )
    return script_location


def test_the_features_revision_upgrades_round_trips_and_dumps_stably(
    cell: ThrowawayDatabase, features_script: Path
) -> None:
    database = create_database(cell, "features")
    settings = database.settings
    [head] = head_revisions()
    migrations.upgrade(settings, head)

    def dump() -> str:
        return dump_schema(database.container, settings)

    with alembic_session(settings, features_script) as run:
        # Up, down (the schema at head again), up (the same schema as the first up).
        round_trip(run, dump, [(FEATURES_REVISION_ID, head)])

    first, second = dump(), dump()
    assert first == second
    assert "-- hypertable public.tick_data (compression enabled)" in first
    assert "--   compression: segment by symbol;" in first
    assert (
        "-- continuous aggregate public.selftest_candles_5m on public.tick_data"
        in first
    )
    for procedure in ("policy_compression", "policy_retention", "policy_refresh"):
        assert f"-- job _timescaledb_functions.{procedure}" in first, first
    assert '"hypertable_id"' not in first and '"mat_hypertable_id"' not in first


def test_the_features_revision_offline_sql_steps_out_of_the_transaction(
    cell: ThrowawayDatabase, features_script: Path
) -> None:
    """`alembic upgrade --sql` keeps the autocommit block: COMMIT before, BEGIN after."""
    import io

    from alembic import command

    config = migrations.alembic_config(cell.settings, str(features_script))
    buffer = io.StringIO()
    config.output_buffer = buffer
    config.attributes["configure_logger"] = False
    [head] = head_revisions()
    command.upgrade(config, f"{head}:{FEATURES_REVISION_ID}", sql=True)
    sql = buffer.getvalue()
    view = sql.index("CREATE MATERIALIZED VIEW selftest_candles_5m")
    assert sql.rindex("COMMIT;", 0, view) > sql.rindex("BEGIN;", 0, view)
    assert sql.index("BEGIN;", view) < sql.index("add_continuous_aggregate_policy")
