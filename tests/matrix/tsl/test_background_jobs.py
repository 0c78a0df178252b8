"""Policies run by TimescaleDB's scheduler end as Success (PostgreSQL 17.12 / 15.20 too).

On those minor releases every scheduled job used to end Failed ("cannot drop portal
"" while it is being set up"); db/image/patches/timescaledb-job-portal-done.patch
fixes it (checked on pg17-ts2.19 built without the patch: all three policies ended
Failed with that error in job_errors). Only the scheduler shows it: CALL run_job() works without the patch, so
this test never calls it. The cell's container runs without background workers
(they block CREATE DATABASE), so this test starts its own with them on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from devdb.containers.throwaway import ThrowawayDatabase, throwaway_database
from devdb.database import connect

# Generous: the scheduler starts each job within a second of its schedule, but a
# loaded 2-core CI machine is slow to start background workers.
JOBS_DEADLINE_SECONDS = 120.0
POLL_SECONDS = 0.5

SETUP = (
    "CREATE EXTENSION IF NOT EXISTS timescaledb",
    "CREATE TABLE ticks (time timestamptz NOT NULL, symbol text, price float8)",
    "SELECT create_hypertable('ticks', 'time', chunk_time_interval => INTERVAL '1 day')",
    "INSERT INTO ticks SELECT t, 'AAA', 1.0 FROM generate_series("
    "now() - INTERVAL '30 days', now(), INTERVAL '1 hour') AS t",
    "ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol')",
    # Retention gets a table of its own: on the same table it races compression,
    # which then fails on the chunks retention dropped under it.
    "CREATE TABLE old_ticks (LIKE ticks)",
    "SELECT create_hypertable('old_ticks', 'time', chunk_time_interval => INTERVAL '1 day')",
    "INSERT INTO old_ticks SELECT * FROM ticks",
    "CREATE MATERIALIZED VIEW ticks_hourly WITH (timescaledb.continuous) AS"
    " SELECT time_bucket('1 hour', time) AS hour, symbol, avg(price)"
    " FROM ticks GROUP BY 1, 2 WITH NO DATA",
)
POLICIES = {
    "compression": "SELECT add_compression_policy('ticks', INTERVAL '7 days',"
    " schedule_interval => INTERVAL '1 second')",
    "retention": "SELECT add_retention_policy('old_ticks', INTERVAL '20 days',"
    " schedule_interval => INTERVAL '1 second')",
    "refresh": "SELECT add_continuous_aggregate_policy('ticks_hourly',"
    " start_offset => INTERVAL '40 days', end_offset => INTERVAL '1 hour',"
    " schedule_interval => INTERVAL '1 second')",
}
JOB_STATS = text(
    "SELECT job_id, last_run_status, total_successes, total_failures"
    " FROM timescaledb_information.job_stats WHERE job_id = ANY(:ids)"
)


@pytest.fixture
def with_workers(
    docker_client, test_settings, cell_spec
) -> Iterator[ThrowawayDatabase]:
    with throwaway_database(
        cell_spec, client=docker_client, settings=test_settings, background_workers=True
    ) as database:
        yield database


def test_scheduled_policies_end_as_success(with_workers: ThrowawayDatabase) -> None:
    with connect(with_workers.settings) as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in SETUP:
            autocommit.execute(text(statement))
        jobs = {
            name: autocommit.execute(text(sql)).scalar()
            for name, sql in POLICIES.items()
        }
        ids = list(jobs.values())
        stats: dict[int, tuple[str, int, int]] = {}
        deadline = time.monotonic() + JOBS_DEADLINE_SECONDS
        # Bounded wait for the scheduler's first run of each job; a failure ends it.
        while time.monotonic() < deadline:
            # 2.29 lists a job before its first run, with NULL counts.
            stats = {
                row.job_id: (
                    row.last_run_status,
                    row.total_successes or 0,
                    row.total_failures or 0,
                )
                for row in autocommit.execute(JOB_STATS, {"ids": ids})
            }
            ran = [job for job in ids if job in stats and stats[job][1] + stats[job][2]]
            if len(ran) == len(ids) or any(s[2] for s in stats.values()):
                break
            time.sleep(POLL_SECONDS)
        failures = autocommit.execute(
            text(
                "SELECT job_id, err_message FROM timescaledb_information.job_errors"
                " WHERE job_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
        compressed = autocommit.execute(
            text(
                "SELECT count(*) FROM timescaledb_information.chunks"
                " WHERE hypertable_name = 'ticks' AND is_compressed"
            )
        ).scalar()
        oldest = autocommit.execute(
            text("SELECT now() - min(time) FROM old_ticks")
        ).scalar()
        hours = autocommit.execute(text("SELECT count(*) FROM ticks_hourly")).scalar()

    report = {name: stats.get(job) for name, job in jobs.items()}
    print(f"job_stats: {report}; job_errors: {failures}")
    for name, job in jobs.items():
        assert job in stats, f"the scheduler never ran the {name} policy: {report}"
        status, successes, failed = stats[job]
        assert (status, failed) == ("Success", 0), f"{name}: {report}, {failures}"
        assert successes >= 1
    # And the work is done: old chunks compressed, older ones dropped, the view filled.
    assert compressed and compressed > 0
    assert oldest is not None and oldest.days <= 21
    assert hours and hours > 0
