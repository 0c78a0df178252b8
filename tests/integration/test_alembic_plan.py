"""The original Alembic plan's success criteria, on a real TimescaleDB container.

These drive the plain `alembic` CLI from backend/, as the plan's developers do,
with DATABASE_URL naming a throwaway database.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import (
    SEED_HYPERTABLES,
    committed_hypertables,
    committed_tables,
    first_revision,
    head_revisions,
    revision_ids,
)
from sqlalchemy import create_engine, text

from devdb.containers.engine import exec_in
from devdb.schema.dump import dump_schema
from devdb.settings import PROJECT_ROOT

BACKEND = PROJECT_ROOT / "backend"
ALEMBIC = Path(sys.executable).parent / "alembic"

# (table, column) -> (type, NOT NULL, default), as the plan's SQL declares them.
EXPECTED_COLUMNS = {
    ("tick_data", "symbol"): ("character varying(10)", True, None),
    ("tick_data", "timestamp"): ("timestamp with time zone", True, None),
    ("tick_data", "price"): ("numeric(12,2)", True, None),
    ("tick_data", "volume"): ("integer", True, None),
    ("tick_data", "side"): ("character varying(20)", True, None),
    ("tick_data", "bid"): ("numeric(12,2)", False, None),
    ("tick_data", "ask"): ("numeric(12,2)", False, None),
    ("candles_1m", "symbol"): ("character varying(10)", True, None),
    ("candles_1m", "timestamp"): ("timestamp with time zone", True, None),
    ("candles_1m", "open"): ("numeric(12,2)", True, None),
    ("candles_1m", "high"): ("numeric(12,2)", True, None),
    ("candles_1m", "low"): ("numeric(12,2)", True, None),
    ("candles_1m", "close"): ("numeric(12,2)", True, None),
    ("candles_1m", "volume"): ("bigint", True, "0"),
    ("candles_1m", "active_buy_vol"): ("bigint", True, "0"),
    ("candles_1m", "active_sell_vol"): ("bigint", True, "0"),
    ("foreign_flow", "symbol"): ("character varying(10)", True, None),
    ("foreign_flow", "timestamp"): ("timestamp with time zone", True, None),
    ("foreign_flow", "buy_vol"): ("bigint", True, "0"),
    ("foreign_flow", "sell_vol"): ("bigint", True, "0"),
    ("foreign_flow", "net_vol"): ("bigint", True, "0"),
    ("foreign_flow", "buy_value"): ("numeric(18,2)", True, "0"),
    ("foreign_flow", "sell_value"): ("numeric(18,2)", True, "0"),
    ("index_snapshots", "index_name"): ("character varying(20)", True, None),
    ("index_snapshots", "timestamp"): ("timestamp with time zone", True, None),
    ("index_snapshots", "value"): ("numeric(12,2)", True, None),
    ("index_snapshots", "change_pct"): ("numeric(8,4)", True, "0"),
    ("index_snapshots", "volume"): ("bigint", True, "0"),
    ("derivatives", "contract"): ("character varying(20)", True, None),
    ("derivatives", "timestamp"): ("timestamp with time zone", True, None),
    ("derivatives", "price"): ("numeric(12,2)", True, None),
    ("derivatives", "basis"): ("numeric(12,2)", True, "0"),
    ("derivatives", "open_interest"): ("bigint", True, "0"),
}
EXPECTED_INDEXES = {
    "idx_tick_symbol_time": ("tick_data", '(symbol, "timestamp" DESC)'),
    "idx_candles_symbol_time": ("candles_1m", '(symbol, "timestamp" DESC)'),
    "idx_foreign_symbol_time": ("foreign_flow", '(symbol, "timestamp" DESC)'),
    "idx_index_name_time": ("index_snapshots", '(index_name, "timestamp" DESC)'),
    "idx_deriv_contract_time": ("derivatives", '(contract, "timestamp" DESC)'),
}


def plain_url(database, driver: str = "postgresql") -> str:
    """The database's URL as the backend writes it: no driver, or asyncpg."""
    return (
        database.settings.url()
        .set(drivername=driver)
        .render_as_string(hide_password=False)
    )


def alembic(
    database, *args: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The plan's `./venv/bin/alembic ...`, from backend/, with DATABASE_URL set."""
    environment = {**os.environ, "DATABASE_URL": url or plain_url(database)}
    return subprocess.run(
        [str(ALEMBIC), *args],
        cwd=BACKEND,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def query(database, sql: str) -> list[tuple]:
    engine = create_engine(database.settings.url())
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def hypertables(database) -> dict[str, str]:
    """Hypertable -> its first (time) dimension's column, as the manifest lists it."""
    return dict(
        query(
            database,
            "SELECT d.hypertable_name, d.column_name"
            "  FROM timescaledb_information.dimensions d"
            " WHERE d.dimension_number = 1",
        )
    )


def user_tables(database) -> set[str]:
    rows = query(
        database,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        "   AND tablename <> 'alembic_version'",
    )
    return {name for (name,) in rows}


def test_history_lists_every_revision_without_a_database() -> None:
    result = subprocess.run(
        [str(ALEMBIC), "history"], cwd=BACKEND, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    first = first_revision()
    assert f"<base> -> {first}" in result.stdout
    assert "Create TimescaleDB hypertables." in result.stdout
    for revision in revision_ids():
        assert f"-> {revision}" in result.stdout
    for head in head_revisions():
        assert f"-> {head} (head)" in result.stdout


def test_upgrade_creates_the_plans_schema_and_downgrade_drops_it(
    fresh_database,
) -> None:
    # The plan's schema is what its first revision creates; later revisions may
    # add to it, and the end of this test checks head against db/schema.sql.
    first = first_revision()
    upgraded = alembic(fresh_database, "upgrade", first)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"Running upgrade  -> {first}" in upgraded.stderr

    assert hypertables(fresh_database) == dict.fromkeys(SEED_HYPERTABLES, "timestamp")
    columns = query(
        fresh_database,
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
        "       a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
        "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        "  JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0"
        "   AND NOT a.attisdropped AND c.relname <> 'alembic_version'",
    )
    assert {(t, c): (ty, nn, df) for t, c, ty, nn, df in columns} == EXPECTED_COLUMNS

    unique = query(
        fresh_database,
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'u' AND connamespace = 'public'::regnamespace",
    )
    assert unique == [("candles_1m", 'UNIQUE (symbol, "timestamp")')]

    indexes = query(
        fresh_database,
        "SELECT indexname, tablename, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' AND indexname LIKE 'idx_%'",
    )
    assert {
        name: (table, definition.split(" USING btree ")[1])
        for name, table, definition in indexes
    } == EXPECTED_INDEXES

    downgraded = alembic(fresh_database, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    assert user_tables(fresh_database) == set()

    again = alembic(fresh_database, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert user_tables(fresh_database) == committed_tables()
    assert hypertables(fresh_database) == committed_hypertables()


def test_compose_init_path_is_adopted_by_stamp(
    fresh_database, init_path_database
) -> None:
    from_sql_file = dump_schema(
        init_path_database.container,
        init_path_database.settings,
        include_revision=False,
    )
    assert alembic(fresh_database, "upgrade", "head").returncode == 0
    from_alembic = dump_schema(
        fresh_database.container, fresh_database.settings, include_revision=False
    )
    assert from_sql_file == from_alembic
    assert hypertables(init_path_database) == committed_hypertables()

    stamped = alembic(init_path_database, "stamp", "head")
    assert stamped.returncode == 0, stamped.stderr
    adopted = dump_schema(init_path_database.container, init_path_database.settings)
    assert f"alembic revision: {' '.join(sorted(head_revisions()))}" in adopted

    upgraded = alembic(init_path_database, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade" not in upgraded.stderr
    assert (
        dump_schema(init_path_database.container, init_path_database.settings)
        == adopted
    )


def test_asyncpg_url_works_and_cli_errors_are_one_line_without_password(
    fresh_database,
) -> None:
    asyncpg = alembic(
        fresh_database, "current", url=plain_url(fresh_database, "postgresql+asyncpg")
    )
    assert asyncpg.returncode == 0, asyncpg.stderr

    secret = "s3cret-not-this-one"
    wrong_password = plain_url(fresh_database).replace(
        f":{fresh_database.settings.password}@", f":{secret}@"
    )
    for url, expected in (
        (wrong_password, "password authentication failed"),
        (f"postgresql://stock:{secret}@localhost:notaport/db", "be parsed"),
    ):
        result = alembic(fresh_database, "upgrade", "head", url=url)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert expected in result.stdout
        assert "Traceback" not in output
        assert secret not in output


def copy_into(container, name: str, content: str) -> str:
    """Put a file into the container's /tmp (no host psql needed to apply it)."""
    payload = content.encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    container.put_archive("/tmp", archive.getvalue())
    return f"/tmp/{name}"


def test_offline_sql_applied_with_psql_gives_the_same_schema(
    fresh_database, init_path_database
) -> None:
    offline = alembic(fresh_database, "upgrade", "head", "--sql")
    assert offline.returncode == 0, offline.stderr
    assert "CREATE TABLE IF NOT EXISTS tick_data" in offline.stdout

    path = copy_into(fresh_database.container, "upgrade.sql", offline.stdout)
    code, _, stderr = exec_in(
        fresh_database.container,
        [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "--no-psqlrc",
            "-q",
            "-U",
            fresh_database.settings.user,
            "-d",
            fresh_database.settings.database,
            "-f",
            path,
        ],
        environment={"PGPASSWORD": fresh_database.settings.password},
    )
    assert code == 0, stderr

    # The docker-compose path has no alembic_version; the dump leaves that table out.
    applied = dump_schema(
        fresh_database.container, fresh_database.settings, include_revision=False
    )
    reference = dump_schema(
        init_path_database.container,
        init_path_database.settings,
        include_revision=False,
    )
    assert applied == reference
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [
        (head,) for head in head_revisions()
    ]


@pytest.fixture
def plain_postgres(docker_client, test_settings):
    from devdb.containers.throwaway import throwaway_database
    from devdb.images.table import image_spec

    with throwaway_database(
        image_spec("pg15-plain"), client=docker_client, settings=test_settings
    ) as database:
        yield database


def test_plain_postgres_fails_with_one_clear_line(plain_postgres) -> None:
    password = plain_postgres.settings.password
    environment = {
        **os.environ,
        "DATABASE_URL": plain_postgres.settings.url().render_as_string(
            hide_password=False
        ),
    }
    via_invoke = subprocess.run(
        [str(Path(sys.executable).parent / "invoke"), "db.upgrade"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = via_invoke.stdout + via_invoke.stderr
    assert via_invoke.returncode != 0
    assert "Traceback" not in output
    assert password not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].startswith("ERROR: ") and "timescaledb" in lines[0]
    assert lines[1].startswith("TIP: ")
    assert len(lines) == 2, output

    via_alembic = alembic(plain_postgres, "upgrade", "head")
    assert via_alembic.returncode != 0
    assert "Traceback" not in via_alembic.stderr
    assert password not in via_alembic.stdout + via_alembic.stderr
    failed = [line for line in via_alembic.stdout.splitlines() if "timescaledb" in line]
    assert len(failed) == 1, via_alembic.stdout
    assert failed[0].startswith("FAILED: ")
    assert "no timescaledb extension available" in failed[0]
    assert "TIP: " in via_alembic.stdout
