"""Two `invoke db.upgrade` at the same moment on one empty database.

Documented behaviour (backend/alembic/env.py): the second run waits for the
advisory lock (bounded), then finds nothing left to do. Both exit 0.
"""

from __future__ import annotations

import subprocess
import sys

from helpers import (
    base_environment,
    committed_hypertables,
    head_revisions,
    migration_lock_key,
    revision_ids,
)

from devdb.settings import PROJECT_ROOT


def test_two_upgrades_at_once_both_succeed_and_apply_once(fresh_database):
    url = fresh_database.settings.url().render_as_string(hide_password=False)
    env = base_environment(
        DATABASE_URL=url, DEVDB_CONTAINER_NAME="stock-tracker-db-unused"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "db.upgrade"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr
        assert fresh_database.settings.password not in stdout + stderr

    from sqlalchemy import create_engine, text

    engine = create_engine(fresh_database.settings.url())
    try:
        with engine.connect() as connection:
            versions = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).all()
            hypertables = connection.execute(
                text("SELECT count(*) FROM timescaledb_information.hypertables")
            ).scalar_one()
    finally:
        engine.dispose()
    assert tuple(row[0] for row in versions) == head_revisions()
    assert hypertables == len(committed_hypertables())


MIGRATION_LOCK_KEY = migration_lock_key()


def test_a_held_lock_makes_both_wait_then_exactly_one_applies(fresh_database, tmp_path):
    """Deterministic version of the race: the test holds the lock first."""
    import time

    from sqlalchemy import create_engine, text

    url = fresh_database.settings.url().render_as_string(hide_password=False)
    env = base_environment(
        DATABASE_URL=url, DEVDB_CONTAINER_NAME="stock-tracker-db-unused"
    )
    engine = create_engine(fresh_database.settings.url())
    holder = engine.connect()
    holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    holder.commit()
    logs = [tmp_path / f"upgrade-{n}.log" for n in range(2)]
    runs = []
    try:
        for log in logs:
            with log.open("w") as output:
                runs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "invoke", "db.upgrade"],
                        cwd=PROJECT_ROOT,
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 60
        while not all("Waiting up to" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text() for log in logs]
            assert all(run.poll() is None for run in runs), "a run did not wait"
            time.sleep(0.2)
        assert all(run.poll() is None for run in runs)
    finally:
        holder.execute(
            text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
        holder.close()
        engine.dispose()
        for run in runs:
            run.wait(timeout=120)

    outputs = [log.read_text() for log in logs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    first = revision_ids()[0]
    applied = [output for output in outputs if f"Running upgrade  -> {first}" in output]
    assert len(applied) == 1, outputs
