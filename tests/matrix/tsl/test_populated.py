"""A populated cell: seeded market data, older chunks compressed, every revision replayed.

Schema changes that work on an empty database can fail once a hypertable has
compressed chunks (timescale/timescaledb#1543, #2663): only data shows it. Every
revision after the first (whose downgrade drops the seed tables by design) is
undone and applied again on that data, and no row may change; a fixture revision
that changes a column's type on the compressed hypertable must fail, named, with
the way forward.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import create_database, first_revision, head_revisions

from devdb.containers.throwaway import ThrowawayDatabase
from devdb.database import connect
from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.seed import load as seed

# Ids and names no real revision can take.
FIXTURE_REVISION = "selftest_price_type_on_compressed"
CHANGES_A_COMPRESSED_COLUMN = '''
"""A change that fails on a hypertable with compression enabled."""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tick_data ALTER COLUMN price TYPE numeric(14,2)")


def downgrade() -> None:
    op.execute("ALTER TABLE tick_data ALTER COLUMN price TYPE numeric(12,2)")
'''


@pytest.fixture(scope="module")
def populated(cell: ThrowawayDatabase) -> ThrowawayDatabase:
    """Head, seeded (smoke profile), tick_data compressed by symbol, old chunks packed."""
    database = create_database(cell, "populated")
    migrations.upgrade(database.settings, "head")
    seed.seed_database(database.settings, profile="smoke")
    with connect(database.settings) as connection:
        # The order named, not left to TimescaleDB: its default follows the
        # table's indexes, so a revision that adds an index would pick the
        # columns its own downgrade then cannot drop.
        connection.exec_driver_sql(
            "ALTER TABLE tick_data SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = 'symbol',"
            " timescaledb.compress_orderby = '\"timestamp\" DESC')"
        )
        compressed = connection.exec_driver_sql(
            "SELECT count(compress_chunk(c)) FROM show_chunks('tick_data') c"
        ).scalar()
        connection.commit()
    assert compressed, "the smoke profile should give tick_data chunks to compress"
    return database


def test_every_revision_replays_on_compressed_data_with_no_row_changed(
    populated: ThrowawayDatabase,
) -> None:
    settings = populated.settings
    before = seed.table_checksums(settings)
    assert all(count for count, _ in before.values()), before
    # Down to the first revision and up again: every later revision's downgrade
    # and upgrade runs on the data.
    migrations.downgrade(settings, first_revision())
    migrations.upgrade(settings, "head")
    assert migrations.current(settings) == head_revisions()
    assert seed.table_checksums(settings) == before


def test_a_type_change_on_the_compressed_hypertable_fails_named(
    populated: ThrowawayDatabase, tmp_path: Path
) -> None:
    script_location = tmp_path / "alembic"
    shutil.copytree(
        populated.settings.script_location,
        script_location,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    [head] = head_revisions()
    (script_location / "versions" / f"{FIXTURE_REVISION}.py").write_text(
        CHANGES_A_COMPRESSED_COLUMN.format(revision=FIXTURE_REVISION, head=head)
    )
    before = seed.table_checksums(populated.settings)
    with pytest.raises(DevDbError) as caught:
        migrations.upgrade(
            populated.settings, "head", script_location=str(script_location)
        )
    print(caught.value.render())
    assert f"(revision {FIXTURE_REVISION})" in caught.value.message
    assert "on a compressed hypertable" in caught.value.message
    assert "decompress" in caught.value.tip
    assert migrations.current(populated.settings) == head_revisions()
    assert seed.table_checksums(populated.settings) == before
