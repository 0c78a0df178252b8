"""db.seed and db.reset --seed on a real TimescaleDB, one container for the module."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from helpers import (
    assert_clean_failure,
    base_environment,
    ok,
    remove_container_and_volume,
    run_invoke,
)

from devdb.containers.dev import resolve
from devdb.database import connect
from devdb.seed import load as seed
from devdb.settings import Settings, load_settings


@pytest.fixture(scope="module")
def seed_env(docker_client) -> Iterator[dict[str, str]]:
    name = f"stock-tracker-db-seed-{secrets.token_hex(4)}"
    env = base_environment(DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0")
    try:
        ok(run_invoke("db.up", env=env))
        yield env
    finally:
        remove_container_and_volume(docker_client, name)


def target(env: dict[str, str]) -> Settings:
    return resolve(load_settings(env))


def test_reset_seed_twice_gives_the_same_rows(seed_env):
    first_run = ok(run_invoke("db.reset", "--seed", "--yes", env=seed_env))
    assert "Seeded profile 'smoke'" in first_run.stderr
    first = seed.table_checksums(target(seed_env))
    assert all(count > 0 for count, _ in first.values()), first
    ok(run_invoke("db.reset", "--seed", "--yes", env=seed_env))
    assert seed.table_checksums(target(seed_env)) == first
    # Rows already there may be the developer's own: with no terminal to ask on,
    # a seed over them is refused, and they stay as they were.
    refused = run_invoke("db.seed", "--seed", "7", env=seed_env)
    assert_clean_failure(refused, "without confirmation")
    assert "--yes" in refused.stderr
    assert seed.table_checksums(target(seed_env)) == first
    # Confirmed, a seed over existing rows replaces them rather than adding to them.
    ok(run_invoke("db.seed", "--yes", env=seed_env))
    assert seed.table_checksums(target(seed_env)) == first
    ok(run_invoke("db.seed", "--yes", "--seed", "7", "--symbols", "3", env=seed_env))
    other = seed.table_checksums(target(seed_env))
    assert other["candles_1m"] != first["candles_1m"]


def test_candles_in_the_database_agree_with_its_ticks(seed_env):
    ok(run_invoke("db.seed", "--yes", "--symbols", "3", env=seed_env))
    with connect(target(seed_env)) as connection:
        disagreeing = connection.exec_driver_sql(
            """
            WITH minute AS (
                SELECT symbol, time_bucket('1 minute', timestamp) AS bucket,
                       first(price, timestamp) AS open, max(price) AS high,
                       min(price) AS low, last(price, timestamp) AS close,
                       sum(volume) AS volume,
                       sum(volume) FILTER (WHERE side = 'buy') AS buys
                  FROM tick_data GROUP BY 1, 2)
            SELECT count(*) FROM candles_1m c FULL JOIN minute m
                ON m.symbol = c.symbol AND m.bucket = c.timestamp
             WHERE (c.open, c.high, c.low, c.close, c.volume, c.active_buy_vol)
                   IS DISTINCT FROM
                   (m.open, m.high, m.low, m.close, m.volume, coalesce(m.buys, 0))
            """
        ).scalar()
        hours = connection.exec_driver_sql(
            "SELECT min(timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')::time,"
            "       max(timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')::time"
            "  FROM tick_data"
        ).one()
    assert disagreeing == 0
    assert str(hours[0]) >= "09:00:00" and str(hours[1]) < "15:00:00"


SCHEMA_OBJECTS = """
SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes
 WHERE schemaname = 'public'
UNION ALL
SELECT string_agg(conrelid::regclass || ' ' || conname || ' '
                  || pg_get_constraintdef(oid), E'\\n' ORDER BY conname)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
"""


def test_the_indexes_set_aside_for_the_load_come_back_the_same(seed_env):
    ok(run_invoke("db.reset", "--yes", env=seed_env))
    with connect(target(seed_env)) as connection:
        before = connection.exec_driver_sql(SCHEMA_OBJECTS).scalars().all()
    # Enough symbols for a bulk load: the one that sets the indexes aside.
    symbols = -(-seed.BULK_CANDLES // (seed.CLOSE_MINUTE - seed.OPEN_MINUTE))
    ok(run_invoke("db.seed", "--symbols", str(symbols), env=seed_env))
    with connect(target(seed_env)) as connection:
        after = connection.exec_driver_sql(SCHEMA_OBJECTS).scalars().all()
        chunk_indexes = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_indexes"
            " WHERE schemaname = '_timescaledb_internal'"
            "   AND left(tablename, 7) = '_hyper_'"
        ).scalar()
    assert after == before
    assert "candles_1m_symbol_timestamp_key UNIQUE" in before[1]
    assert chunk_indexes and chunk_indexes >= 11  # every chunk has its indexes again


def test_seed_on_a_database_not_at_head_says_so(seed_env):
    ok(run_invoke("db.reset", "--no-migrate", "--yes", env=seed_env))
    try:
        failed = run_invoke("db.seed", env=seed_env)
        assert_clean_failure(failed, "not at the head revision")
        assert "invoke db.upgrade" in failed.stderr
    finally:
        ok(run_invoke("db.reset", "--yes", env=seed_env))


def test_columns_come_from_the_database(seed_env):
    ok(run_invoke("db.reset", "--yes", env=seed_env))
    try:
        with connect(target(seed_env)) as connection:
            connection.exec_driver_sql("ALTER TABLE tick_data ADD COLUMN note text")
            connection.commit()
        ok(run_invoke("db.seed", "--symbols", "2", env=seed_env))  # left NULL
        with connect(target(seed_env)) as connection:
            connection.exec_driver_sql("TRUNCATE tick_data")
            connection.exec_driver_sql(
                "ALTER TABLE tick_data ADD COLUMN venue text NOT NULL"
            )
            connection.commit()
        failed = run_invoke("db.seed", env=seed_env)
        assert_clean_failure(failed, "NOT NULL column(s) without a default")
        assert "venue" in failed.stderr
    finally:
        ok(run_invoke("db.reset", "--yes", env=seed_env))


def test_a_seed_that_fails_leaves_every_table_as_it_was(seed_env):
    """All or nothing: the last table's COPY fails; none of the five changes."""
    from devdb.seed.market_data import SEED_TABLES

    settings = target(seed_env)
    ok(run_invoke("db.seed", "--yes", "--symbols", "2", env=seed_env))
    before = seed.table_checksums(settings)
    last = SEED_TABLES[-1]
    with connect(settings) as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION selftest_refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN RAISE EXCEPTION 'selftest: no rows here'; END$$"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER selftest_refuse BEFORE INSERT ON {last}"
            " FOR EACH ROW EXECUTE FUNCTION selftest_refuse()"
        )
        connection.commit()
    try:
        with pytest.raises(Exception, match="selftest: no rows here"):
            seed.seed_database(settings, seed=7, symbols=3, yes=True)
        assert seed.table_checksums(settings) == before
    finally:
        with connect(settings) as connection:
            connection.exec_driver_sql(f"DROP TRIGGER selftest_refuse ON {last}")
            connection.exec_driver_sql("DROP FUNCTION selftest_refuse()")
            connection.commit()
