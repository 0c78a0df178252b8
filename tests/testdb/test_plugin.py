"""The pytest plugin as a backend's suite meets it: pytest in a process of its own.

Each run here is a real pytest run of a small test module written for it, with
the plugin loaded by its entry point (nothing in the module asks for it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg2
import pytest
from helpers import base_environment, devdb_summary, run_pytest, server_url

BACKEND_TESTS = """
import psycopg2
import pytest


def insert(url, symbol):
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tick_data (symbol, timestamp, price, volume, side)"
            " VALUES (%s, now(), 1, 1, 'buy')",
            (symbol,),
        )
        cursor.execute("SELECT array_agg(symbol ORDER BY symbol) FROM tick_data")
        return cursor.fetchone()[0]


def test_passes(devdb_database):
    assert insert(devdb_database.url, "PASS") == ["PASS"]
    assert devdb_database.async_url.startswith("postgresql+asyncpg://")


def test_fails(devdb_database):
    insert(devdb_database.url, "FAIL")
    assert False, "on purpose: its database is kept"


def test_module_first(devdb_module_database):
    assert insert(devdb_module_database.url, "M1") == ["M1"]


def test_module_second(devdb_module_database):
    # One database for the module: the first test's row is there.
    assert insert(devdb_module_database.url, "M2") == ["M1", "M2"]


def scheduled(url):
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(DISTINCT scheduled) FROM timescaledb_information.jobs")
        return cursor.fetchone()[0]


def test_jobs_off_by_default(devdb_session_database):
    assert scheduled(devdb_session_database.url) == [False]


@pytest.mark.devdb_jobs
def test_jobs_on_when_asked(devdb_database):
    assert scheduled(devdb_database.url) == [True]
"""


def write_tests(tmp_path: Path) -> Path:
    folder = tmp_path / "backend_tests"
    folder.mkdir()
    (folder / "test_backend.py").write_text(BACKEND_TESTS)
    return folder


def test_a_failed_test_keeps_its_database_and_says_where_without_the_password(
    tmp_path, database_server
):
    folder = write_tests(tmp_path)
    settings = database_server.settings
    env = base_environment(DEVDB_TEST_SERVER_URL=server_url(settings))
    first = run_pytest("--devdb-server", "url", "-q", cwd=folder, env=env)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "1 failed, 5 passed" in output
    assert "devdb database kept" in output
    assert settings.password not in output
    kept_line = next(
        line for line in output.splitlines() if line.startswith("postgresql://")
    )
    assert f"{settings.user}:***@" in kept_line
    kept = kept_line.rsplit("/", 1)[1]
    # A server named by URL: psql, with that URL's password (never printed).
    assert f"look inside: psql '{kept_line}'" in output
    summary = devdb_summary(output)
    assert f"1 kept ({kept})" in summary and "0 clone failures" in summary

    rows = psycopg2.connect(server_url(settings, kept))
    try:
        with rows.cursor() as cursor:
            cursor.execute("SELECT symbol FROM tick_data")
            assert cursor.fetchall() == [("FAIL",)]
    finally:
        rows.close()

    second = run_pytest(
        "--devdb-server", "url", "-q", "-k", "passes", cwd=folder, env=env
    )
    assert second.returncode == 0, second.stdout
    assert "1 left over by earlier runs dropped" in devdb_summary(second.stdout)
    with (
        psycopg2.connect(server_url(settings)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT datname FROM pg_database WHERE datname = %s", (kept,))
        assert cursor.fetchall() == []


@pytest.mark.parametrize(
    "processes", [("-n", "2"), ("-p", "no:xdist")], ids=["xdist", "one-process"]
)
def test_a_throwaway_server_is_shared_by_the_run_and_removed_after_it(
    tmp_path, docker_client, processes
):
    folder = write_tests(tmp_path)
    env = base_environment()
    run = run_pytest(
        "--devdb-server",
        "throwaway",
        *processes,
        "-k",
        "passes or jobs",
        cwd=folder,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = devdb_summary(run.stdout)
    # The run names its one server; every process of it used that one. Only that
    # container is checked: this suite's own run (and other tests' runs) start
    # throwaway servers of their own while this one runs.
    named = re.findall(r"on the throwaway container (devdb-testdb-[0-9a-f]+)", summary)
    assert len(named) == 1, summary
    left = docker_client.containers.list(all=True, filters={"name": named[0]})
    assert [c.name for c in left if c.name == named[0]] == [], (
        f"{named[0]} is left behind after the run"
    )


def test_a_wrong_setting_fails_every_test_with_one_error_and_tip(tmp_path):
    folder = write_tests(tmp_path)
    env = base_environment(DEVDB_TEST_SERVER="elsewhere")
    run = run_pytest("-q", "-k", "passes", cwd=folder, env=env)
    output = run.stdout + run.stderr
    assert run.returncode == 1
    assert "ERROR: devdb_server is 'elsewhere'" in output
    assert "TIP: set devdb_server" in output
    assert "Traceback" not in output
    assert os.environ.get("DEVDB_TEST_SERVER") != "elsewhere"
