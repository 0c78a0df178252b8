"""The downgrade guard counts every row a downgrade can drop.

Self-test revisions on top of a copy of the project's revisions (ids that cannot
be a real revision's): a continuous aggregate whose raw ticks are gone (as under
a retention policy, its materialised rows exist nowhere else), a hypertable whose
chunks are all compressed, and a table in a schema of its own. Each holds rows;
the guard must name each with its row count before its downgrade drops it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    assert_clean_failure,
    base_environment,
    copy_project,
    create_database,
    head_revisions,
    ok,
    revision_source,
    run_invoke,
)

from devdb.database import connect
from devdb.settings import Settings

[HEAD] = head_revisions()

# id -> (upgrade statements, downgrade statements), each one op.execute.
SELFTEST_REVISIONS = {
    "selftest_ticks": (
        [
            "CREATE TABLE selftest_ticks (ts timestamptz NOT NULL, price float8)",
            "SELECT create_hypertable('selftest_ticks', 'ts',"
            " chunk_time_interval => interval '1 hour')",
            "ALTER TABLE selftest_ticks SET (timescaledb.compress)",
            "CREATE SCHEMA selftest_other",
            "CREATE TABLE selftest_other.trades (id int)",
        ],
        [
            "DROP TABLE selftest_other.trades",
            "DROP SCHEMA selftest_other",
            "DROP TABLE selftest_ticks",
        ],
    ),
    "selftest_candles": (
        [
            "CREATE MATERIALIZED VIEW selftest_candles"
            " WITH (timescaledb.continuous) AS"
            " SELECT time_bucket('1 minute', ts) AS bucket, max(price) AS high"
            " FROM selftest_ticks GROUP BY 1 WITH NO DATA"
        ],
        ["DROP MATERIALIZED VIEW selftest_candles"],
    ),
}
CANDLES = 500


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project with the self-test revisions on today's head."""
    copy_project(tmp_path)
    versions = tmp_path / "backend" / "alembic" / "versions"
    down = HEAD
    for rev, (up, down_sql) in SELFTEST_REVISIONS.items():
        (versions / f"{rev}.py").write_text(
            revision_source(
                rev, down, doc=f"Self-test {rev}.", upgrade=up, downgrade=down_sql
            )
        )
        down = rev
    return tmp_path


@pytest.fixture
def database(database_server, project: Path) -> Settings:
    """An empty database at the self-test head, aimed at the project copy."""
    from devdb.schema import migrations

    settings = replace(
        create_database(database_server, "guard").settings, project_root=project
    )
    migrations.upgrade(settings, "head")
    return settings


def run(settings: Settings, *sql: str) -> None:
    with connect(settings) as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in sql:
            autocommit.exec_driver_sql(statement)


def count(settings: Settings, relation: str) -> int:
    with connect(settings) as connection:
        return int(
            connection.exec_driver_sql(f"SELECT count(*) FROM {relation}").scalar_one()
        )


def url(settings: Settings) -> str:
    return (
        settings.url()
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def test_a_continuous_aggregate_whose_ticks_are_gone_is_asked_about(
    database: Settings, project: Path
) -> None:
    run(
        database,
        "INSERT INTO selftest_ticks SELECT t, 1.0 FROM generate_series("
        f"'2024-01-01 00:00+00'::timestamptz, '2024-01-01 00:00+00'::timestamptz"
        f" + interval '{CANDLES - 1} minutes', interval '1 minute') AS t",
        "CALL refresh_continuous_aggregate('selftest_candles', NULL, NULL)",
        "DELETE FROM selftest_ticks",  # a retention policy's work, done by hand
    )
    assert count(database, "selftest_ticks") == 0
    assert count(database, "selftest_candles") == CANDLES

    env = base_environment(PYTHONPATH=str(project), DATABASE_URL=url(database))
    result = run_invoke("db.downgrade", "--steps", "1", env=env, cwd=project)
    output = assert_clean_failure(result, "without confirmation", database.password)
    assert f"public.selftest_candles ({CANDLES} rows)" in output
    assert count(database, "selftest_candles") == CANDLES

    ok(run_invoke("db.downgrade", "--steps", "1", "--yes", env=env, cwd=project))
    from devdb.schema import migrations

    assert migrations.current(database) == ("selftest_ticks",)


def test_compressed_chunks_and_tables_in_other_schemas_are_counted(
    database: Settings,
) -> None:
    from devdb import rows_at_risk, safety
    from devdb.errors import DevDbError

    run(
        database,
        "INSERT INTO selftest_ticks SELECT t, 1.0 FROM generate_series("
        "'2024-01-01 00:00+00'::timestamptz, '2024-01-01 05:59+00'::timestamptz,"
        " interval '1 minute') AS t",
        "SELECT compress_chunk(c) FROM show_chunks('selftest_ticks') AS c",
        "INSERT INTO selftest_other.trades VALUES (1), (2), (3)",
    )
    with connect(database) as connection:
        uncompressed = connection.exec_driver_sql(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'selftest_ticks' AND NOT is_compressed"
        ).scalar_one()
    assert uncompressed == 0  # every row is in a compressed chunk
    risk = rows_at_risk.data_at_risk(database, HEAD)
    assert dict(risk.tables) == {
        "public.selftest_ticks": 360,
        "selftest_other.trades": 3,
    }
    with pytest.raises(DevDbError) as refused:
        safety.guard_downgrade(database, HEAD, yes=False, force=False)
    assert "public.selftest_ticks (360 rows)" in refused.value.message
    assert "selftest_other.trades (3 rows)" in refused.value.message
    assert count(database, "selftest_ticks") == 360
