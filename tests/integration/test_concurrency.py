"""Two `invoke db.upgrade` at the same moment on one empty database.

Documented behaviour (backend/alembic/env.py): the second run waits for the
advisory lock (bounded), then finds nothing left to do. Both exit 0.
"""

from __future__ import annotations

import subprocess
import sys

from test_lifecycle import base_environment

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
    assert [row[0] for row in versions] == ["001"]
    assert hypertables == 5
