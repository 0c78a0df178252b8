"""Rows built from source carry the full TimescaleDB: the Timescale License features."""

from __future__ import annotations

from helpers import head_revisions
from sqlalchemy import text

from devdb import labels
from devdb.containers.engine import exec_in
from devdb.database import connect
from devdb.schema import migrations

[HEAD] = head_revisions()  # the compression revision sits on it


def test_the_licence_is_timescale_and_telemetry_is_off(
    cell, head_database, docker_client
) -> None:
    # In a database with the extension: its versioned library defines the settings.
    with connect(head_database.settings) as connection:
        licence = connection.execute(text("SHOW timescaledb.license")).scalar()
        # Compiled out (USE_TELEMETRY=OFF): the setting does not even exist.
        telemetry = connection.execute(
            text("SELECT current_setting('timescaledb.telemetry_level', true)")
        ).scalar()
    image = docker_client.images.get(cell.image_ref)
    assert licence == "timescale"
    assert telemetry in (None, "off")
    assert image.labels[labels.TIMESCALEDB_LICENSE] == "timescale"


def test_every_carried_version_is_installable(cell, cell_spec) -> None:
    with connect(cell.settings) as connection:
        available = set(
            connection.execute(
                text(
                    "SELECT version FROM pg_available_extension_versions"
                    " WHERE name = 'timescaledb'"
                )
            ).scalars()
        )
        default = connection.execute(
            text(
                "SELECT default_version FROM pg_available_extensions"
                " WHERE name = 'timescaledb'"
            )
        ).scalar()
    assert set(cell_spec.source_versions) <= available
    assert default == cell_spec.source_versions[-1], "the newest is installed last"


def test_compression_and_continuous_aggregates_work(empty_database) -> None:
    with connect(empty_database.settings) as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in (
            # template1 has it on the official and the offline images alike.
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            "CREATE TABLE ticks (time timestamptz NOT NULL, symbol text, price float8)",
            "SELECT create_hypertable('ticks', 'time', chunk_time_interval => INTERVAL '1 day')",
            "INSERT INTO ticks SELECT t, 'AAA', 1.0 FROM generate_series("
            "now() - INTERVAL '10 days', now(), INTERVAL '1 hour') AS t",
            "ALTER TABLE ticks SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = 'symbol')",
            "SELECT count(compress_chunk(c)) FROM show_chunks('ticks',"
            " older_than => INTERVAL '2 days') AS c",
            # Outside a transaction block: WITH DATA refuses one (25001).
            "CREATE MATERIALIZED VIEW ticks_daily WITH (timescaledb.continuous) AS"
            " SELECT time_bucket('1 day', time) AS day, symbol, avg(price)"
            " FROM ticks GROUP BY 1, 2",
            "INSERT INTO ticks VALUES (now() - INTERVAL '9 days', 'AAA', 2.0)",
        ):
            autocommit.execute(text(statement))
        compressed = autocommit.execute(
            text(
                "SELECT count(*) FROM timescaledb_information.chunks"
                " WHERE hypertable_name = 'ticks' AND is_compressed"
            )
        ).scalar()
        days = autocommit.execute(text("SELECT count(*) FROM ticks_daily")).scalar()
        rows = autocommit.execute(text("SELECT count(*) FROM ticks")).scalar()
    assert compressed and compressed >= 7
    assert days and days >= 10
    assert rows == 10 * 24 + 1 + 1  # hourly rows for ten days, both ends, plus one


def test_a_revision_using_compression_migrates_up_and_down(
    empty_database, compression_revision
) -> None:
    settings = empty_database.settings
    migrations.upgrade(settings, "head", script_location=compression_revision)
    assert migrations.current(settings) == ("tsl_compress_ticks_9f2c",)
    migrations.downgrade(settings, HEAD, script_location=compression_revision)
    assert migrations.current(settings) == (HEAD,)


def test_the_runtime_image_has_no_compiler(cell) -> None:
    code, out, _ = exec_in(
        cell.container,
        ["sh", "-c", "for tool in gcc cc make cmake; do command -v $tool; done"],
    )
    assert out.strip() == "", f"build tools in the runtime image: {out}"
    assert code != 0
