"""Dev snapshots through the tasks, on a dev container of the module's own.

db.snapshot, then db.seed --yes, then db.restore gives the snapshot's rows back
(per-table checksums equal); a restore killed (or interrupted) half way leaves
the dev database as it was; a snapshot of another revision says so and asks.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from helpers import (
    INVOKE,
    assert_clean_failure,
    base_environment,
    ok,
    remove_container_and_volume,
    run_invoke,
    server_url,
)

from devdb.containers.dev import running_dev_container
from devdb.seed.load import table_checksums
from devdb.settings import PROJECT_ROOT, Settings, load_settings

pytestmark = pytest.mark.xdist_group("snapshots")


@pytest.fixture(scope="module")
def dev(docker_client) -> Iterator[tuple[dict[str, str], Settings]]:
    """A dev container of this module's own, up and at head; its settings."""
    name = f"stock-tracker-db-snapshots-{secrets.token_hex(4)}"
    env = base_environment(DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0")
    try:
        ok(run_invoke("db.up", env=env))
        yield env, running_dev_container(load_settings(env))[1]
    finally:
        remove_container_and_volume(docker_client, name)


def databases(settings: Settings, like: str) -> list[str]:
    connection = psycopg2.connect(server_url(settings))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                (like,),
            )
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


def test_snapshot_then_seed_then_restore_gives_the_snapshots_rows_back(dev):
    env, settings = dev
    ok(run_invoke("db.seed", "--seed", "7", "--yes", env=env))
    taken = table_checksums(settings)
    made = ok(run_invoke("db.snapshot", "before-reseed", env=env))
    assert "Snapshot 'before-reseed'" in made.stderr

    ok(run_invoke("db.seed", "--seed", "8", "--yes", env=env))
    assert table_checksums(settings) != taken
    listed = ok(run_invoke("db.snapshots", env=env)).stdout
    assert "before-reseed" in listed and " MB" in listed

    restored = ok(run_invoke("db.restore", "before-reseed", "--yes", env=env))
    assert "Restored the snapshot 'before-reseed'" in restored.stderr
    assert table_checksums(settings) == taken

    # The snapshot is still there (sealed: nothing connects to it), until dropped.
    assert databases(settings, "devdb\\_snap\\_%") == ["devdb_snap_before-reseed"]
    ok(run_invoke("db.snapshot", "--drop", "before-reseed", "--yes", env=env))
    assert databases(settings, "devdb\\_snap\\_%") == []


def test_wrong_names_and_missing_snapshots_are_one_error_and_a_tip(dev):
    env, _ = dev
    assert_clean_failure(
        run_invoke("db.snapshot", "Not A Name", env=env), "is not a snapshot name"
    )
    assert_clean_failure(
        run_invoke("db.restore", "never-taken", "--yes", env=env), "no snapshot"
    )
    ok(run_invoke("db.snapshot", "twice", env=env))
    output = assert_clean_failure(
        run_invoke("db.snapshot", "twice", env=env), "already a snapshot 'twice'"
    )
    assert "--drop twice" in output
    # Dropping asks; with no terminal it refuses without --yes.
    assert_clean_failure(
        run_invoke("db.snapshot", "--drop", "twice", env=env), "without confirmation"
    )
    ok(run_invoke("db.snapshot", "--drop", "twice", "--yes", env=env))


def test_a_snapshot_of_another_revision_says_so_and_asks(dev):
    env, _ = dev
    ok(run_invoke("db.snapshot", "at-head", env=env))
    ok(run_invoke("db.stamp", "--revision", "base", env=env))
    output = assert_clean_failure(
        run_invoke("db.restore", "at-head", env=env), "without confirmation"
    )
    assert "the snapshot is at revision" in output
    assert "but the database is at none" in output
    ok(run_invoke("db.restore", "at-head", "--yes", env=env))
    assert ok(run_invoke("db.current", env=env)).stdout.strip() != ""
    ok(run_invoke("db.snapshot", "--drop", "at-head", "--yes", env=env))


def start_restore(env: dict[str, str], name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*INVOKE, "db.restore", name, "--yes"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_copying(settings: Settings, process: subprocess.Popen[str]) -> None:
    """Until the restore's copy aside is under way (seen in pg_stat_activity)."""
    connection = psycopg2.connect(server_url(settings))
    connection.autocommit = True
    deadline = time.monotonic() + 120
    try:
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE query LIKE 'CREATE DATABASE \"devdb_restore_%'"
                    " AND state = 'active'"
                )
                if cursor.fetchone()[0]:
                    return
                assert process.poll() is None, process.communicate()
                time.sleep(0.002)
    finally:
        connection.close()
    pytest.fail("the restore never started copying")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_an_interrupted_restore_leaves_the_dev_database_whole(dev, how):
    env, settings = dev
    # Enough rows that the copy aside takes a while to interrupt.
    ok(run_invoke("db.seed", "--symbols", "60", "--yes", env=env, timeout=600))
    name = f"big-{uuid.uuid4().hex[:6]}"
    ok(run_invoke("db.snapshot", name, env=env))
    snapshot = None
    # On a quiet machine the copy can end before the signal lands: then the restore
    # finished, whole, and the next attempt interrupts it again. One must be cut.
    for _attempt in range(5):
        ok(run_invoke("db.seed", "--seed", "9", "--yes", env=env))
        before = table_checksums(settings)
        restore = start_restore(env, name)
        wait_until_copying(settings, restore)
        os.kill(restore.pid, how)
        _, stderr = restore.communicate(timeout=120)
        if restore.returncode == 0:
            snapshot = snapshot or table_checksums(settings)
            assert table_checksums(settings) == snapshot  # restored whole
            continue
        if how == signal.SIGINT:
            assert "Interrupted." in stderr and "Traceback" not in stderr
        assert table_checksums(settings) == before  # connects, every row is there
        break
    else:
        pytest.fail("five restores in a row ended before the signal reached them")
    # What the interrupted restore left aside goes with the next snapshot command.
    ok(run_invoke("db.snapshot", "--drop", name, "--yes", env=env))
    assert databases(settings, "devdb\\_restore\\_%") == []
    assert databases(settings, "devdb\\_retired\\_%") == []


def test_reset_clones_the_head_template_when_the_server_has_one(dev):
    env, settings = dev
    from devdb.testdb.clones import open_test_databases

    built = open_test_databases(
        load_settings(env), where="dev", run_uid=uuid.uuid4().hex, owner_pid=os.getpid()
    )
    built.close()
    reset = ok(run_invoke("db.reset", "--yes", env=env))
    assert f"from the head template {built.template.name}" in reset.stderr
    assert ok(run_invoke("db.current", env=env)).stdout.split() == list(
        built.template.record.heads
    )
    seeded = ok(run_invoke("db.seed", "--yes", env=env))
    assert "Seeded profile 'smoke'" in seeded.stderr
    # The dev database's jobs run as its revisions left them (the template's are off).
    connection = psycopg2.connect(server_url(settings, settings.database))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT bool_and(scheduled) FROM timescaledb_information.jobs"
            )
            assert cursor.fetchone()[0] is True
    finally:
        connection.close()
