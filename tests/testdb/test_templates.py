"""Templates and clones on a real TimescaleDB whose scheduler runs.

The server plays the dev container: background workers on, and a "dev database"
(the container's own) whose jobs run every second while clones are made. The
template comes from the project's revisions plus the TSL features revision (a
continuous aggregate, compression and its policy) and one that gives the
database settings CREATE DATABASE does not copy.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace

import psycopg2
import pytest
from helpers import server_url

from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.testdb import server as servers
from devdb.testdb.clones import TestDatabases, open_test_databases

CLONES_WHILE_JOBS_RUN = 30
# The dev database's job runs every second: two more runs span a second at least.
JOB_RUNS_WHILE_CLONING = 2


def open_on(server, test_settings, script=None, *, run_uid: str = "") -> TestDatabases:
    return open_test_databases(
        test_settings,
        where="url",
        url=server_url(server.settings),
        run_uid=run_uid or uuid.uuid4().hex,
        owner_pid=os.getpid(),
        script_location=script,
    )


def query(url: str, sql: str) -> list[tuple]:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def job_runs(settings) -> int:
    return query(
        server_url(settings, settings.database),
        "SELECT coalesce(sum(total_runs), 0) FROM timescaledb_information.job_stats"
        " WHERE job_id >= 1000",
    )[0][0]


@pytest.fixture
def dev_database_with_jobs(busy_server, features_script):
    """The server's own database at the features head, a job of it every second."""
    settings = busy_server.settings
    migrations.upgrade(settings, "head", script_location=str(features_script))
    url = server_url(settings, settings.database)
    query(
        url,
        "CREATE OR REPLACE PROCEDURE selftest_every_second(job int, config jsonb)"
        " LANGUAGE SQL AS $$ SELECT 1 $$",
    )
    query(url, "SELECT add_job('selftest_every_second', INTERVAL '1 second')")
    deadline = time.monotonic() + 60
    while job_runs(settings) == 0:
        assert time.monotonic() < deadline, "the dev database's job never ran"
        time.sleep(0.2)
    return settings


def test_a_tsl_template_clones_with_its_features_while_the_dev_jobs_run(
    busy_server, test_settings, features_script, dev_database_with_jobs
):
    databases = open_on(busy_server, test_settings, features_script)
    try:
        assert databases.template.built
        # Clone until the dev database's job has run a few more times: however
        # fast the clones are, the scheduler was at work while they were made.
        runs_before = job_runs(dev_database_with_jobs)
        deadline = time.monotonic() + 60
        clones = 0
        while (
            clones < CLONES_WHILE_JOBS_RUN
            or job_runs(dev_database_with_jobs) < runs_before + JOB_RUNS_WHILE_CLONING
        ):
            assert time.monotonic() < deadline, "the dev database's job stopped"
            databases.drop(databases.create())
            clones += 1
        kept = databases.create()
        with_jobs = databases.create(jobs=True)
        stats = databases.stats
        # The scheduler never held a clone up: a sealed template lets no session
        # in, its own included.
        assert (stats.failures, stats.retries) == (0, 0)
        sealed = query(
            server_url(busy_server.settings),
            "SELECT datistemplate, datallowconn FROM pg_database"
            f" WHERE datname = '{databases.template.name}'",
        )
        assert sealed == [(True, False)]

        assert query(
            kept.url,
            "SELECT view_name FROM timescaledb_information.continuous_aggregates",
        ) == [("selftest_candles_5m",)]
        assert query(
            kept.url,
            "SELECT hypertable_name, attname, segmentby_column_index"
            " FROM timescaledb_information.compression_settings"
            " WHERE segmentby_column_index IS NOT NULL",
        ) == [("tick_data", "symbol", 1)]
        policies = dict(
            query(
                kept.url,
                "SELECT proc_name, scheduled FROM timescaledb_information.jobs"
                " WHERE proc_name LIKE 'policy_%' AND job_id >= 1000",
            )
        )
        assert policies == {
            "policy_compression": False,
            "policy_retention": False,
            "policy_refresh_continuous_aggregate": False,
        }
        asked = dict(
            query(
                with_jobs.url,
                "SELECT proc_name, scheduled FROM timescaledb_information.jobs"
                " WHERE proc_name LIKE 'policy_%' AND job_id >= 1000",
            )
        )
        assert asked == dict.fromkeys(policies, True)
        # Per-database settings reach every clone, though CREATE DATABASE drops them.
        assert query(kept.url, "SHOW timezone") == [("Asia/Ho_Chi_Minh",)]
        assert query(kept.url, "SHOW search_path") == [
            ('"$user", public, "Selftest Schema"',)
        ]
    finally:
        databases.close()


def test_the_template_is_reused_rebuilt_for_other_revisions_and_old_ones_go(
    database_server, test_settings, features_script
):
    first = open_on(database_server, test_settings)
    first.close()
    again = open_on(database_server, test_settings)
    assert not again.template.built
    assert again.template.name == first.template.name
    # Another checkout's revisions, while this one still clones from its template:
    # a template of their own, and ours is left alone.
    other = open_on(database_server, test_settings, features_script)
    assert other.template.built and other.template.name != first.template.name
    assert first.template.name not in other.stats.removed_templates
    other.close()
    again.close()
    # Nobody uses the old one any more: the next run removes it.
    back = open_on(database_server, test_settings)
    assert back.stats.removed_templates == [other.template.name]
    back.close()


def test_leftovers_of_gone_runs_are_dropped_but_a_kept_one_of_a_live_run_is_not(
    database_server, test_settings
):
    run = uuid.uuid4().hex
    crashed = open_on(database_server, test_settings, run_uid=run)
    made = [crashed.create() for _ in range(3)]
    crashed.keep(made[0], "tests/test_x.py::test_that_failed")
    crashed.close()  # its locks go, as when the process dies

    same_run = open_test_databases(
        test_settings,
        where="url",
        url=server_url(database_server.settings),
        run_uid=run,
        worker="gw7",
        owner_pid=os.getpid(),
    )
    names = set(
        row[0]
        for row in query(
            server_url(database_server.settings),
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb_t_%'",
        )
    )
    assert made[0].name in names  # kept, and its run still goes on
    assert {made[1].name, made[2].name}.isdisjoint(names)
    assert same_run.stats.reaped == 2
    same_run.close()

    next_run = open_on(database_server, test_settings)
    assert next_run.stats.reaped == 1
    next_run.close()


def test_a_server_on_another_machine_is_refused_unless_allowed(
    database_server, test_settings, docker_client
):
    networks = database_server.container.attrs["NetworkSettings"]["Networks"]
    bridge = next(n["IPAddress"] for n in networks.values() if n["IPAddress"])
    through_bridge = replace(database_server.settings, host=bridge, port=5432)
    # Named as localhost, reached through the bridge: hostaddr decides.
    disguised = server_url(database_server.settings, hostaddr=bridge)
    disguised = disguised.replace(f":{database_server.settings.port}/", ":5432/")
    for url in (server_url(through_bridge), disguised):
        with pytest.raises(DevDbError, match="leads to another machine") as refused:
            open_test_databases(
                test_settings,
                where="url",
                url=url,
                run_uid=uuid.uuid4().hex,
                owner_pid=os.getpid(),
            )
        assert database_server.settings.password not in refused.value.render()
        assert "devdb_allow_remote" in refused.value.tip
    server = servers.url_server(test_settings, server_url(through_bridge))
    connection = servers.connect(server)
    try:
        servers.refuse_remote(server, connection, allow_remote=True)
    finally:
        connection.close()
