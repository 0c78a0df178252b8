"""The dev-database lifecycle through the `invoke` CLI, on real containers.

Each test gets its own container name and a free port (never the developer's
`stock-tracker-db`), and removes the container and its volume afterwards.
"""

from __future__ import annotations

import pytest
from helpers import (
    committed_hypertables,
    first_revision,
    free_port,
    head_revisions,
    ok,
    revision_ids,
    run_invoke,
    sql,
)


def test_up_twice_is_one_container_on_localhost_only(docker_client, dev_env):
    first = ok(run_invoke("db.up", env=dev_env))
    assert "created" in first.stderr
    assert f"applied {', '.join(revision_ids())}" in first.stderr
    container = docker_client.containers.get(dev_env["DEVDB_CONTAINER_NAME"])
    second = ok(run_invoke("db.up", env=dev_env))
    assert "already running" in second.stderr and "already at head" in second.stderr
    again = docker_client.containers.get(dev_env["DEVDB_CONTAINER_NAME"])
    assert again.id == container.id
    same_name = docker_client.containers.list(
        all=True, filters={"name": dev_env["DEVDB_CONTAINER_NAME"]}
    )
    assert len(same_name) == 1
    bindings = [
        binding
        for port_bindings in again.attrs["NetworkSettings"]["Ports"].values()
        for binding in port_bindings or []
    ]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
    host_config = again.attrs["HostConfig"]["PortBindings"]
    assert all(b["HostIp"] == "127.0.0.1" for v in host_config.values() for b in v)


def test_down_then_up_keeps_rows(docker_client, dev_env):
    ok(run_invoke("db.up", env=dev_env))
    sql(
        dev_env,
        "INSERT INTO tick_data VALUES ('KEEP', now(), 1.5, 10, 'buy', NULL, NULL)",
    )
    down = ok(run_invoke("db.down", env=dev_env))
    assert "Stopped" in down.stderr
    container = docker_client.containers.get(dev_env["DEVDB_CONTAINER_NAME"])
    assert container.status == "exited"
    status = run_invoke("db.status", "--check", env=dev_env)
    assert status.returncode == 1 and "exited" in status.stdout
    ok(run_invoke("db.up", env=dev_env))
    assert "KEEP" in sql(dev_env, "SELECT symbol FROM tick_data")


def test_destroy_asks_then_removes_container_and_volume(docker_client, dev_env):
    import docker.errors

    name = dev_env["DEVDB_CONTAINER_NAME"]
    ok(run_invoke("db.up", "--no-migrate", env=dev_env))
    refused = run_invoke("db.destroy", env=dev_env)  # no terminal, no --yes
    assert refused.returncode == 1
    assert (
        "ERROR: refusing" in refused.stderr
        and "TIP: run again with --yes" in refused.stderr
    )
    docker_client.containers.get(name)  # still there
    ok(run_invoke("db.destroy", "--yes", env=dev_env))
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(f"{name}-data")
    again = ok(run_invoke("db.destroy", "--yes", env=dev_env))
    assert "nothing to destroy" in again.stderr


def test_reset_drops_rows_and_returns_to_head(dev_env):
    ok(run_invoke("db.up", env=dev_env))
    sql(
        dev_env,
        "INSERT INTO tick_data VALUES ('GONE', now(), 1.5, 10, 'buy', NULL, NULL)",
    )
    # A session left open in the database must not block the drop (WITH (FORCE)).
    assert run_invoke("db.reset", env=dev_env).returncode == 1  # asks; no terminal
    reset = ok(run_invoke("db.reset", "--yes", env=dev_env))
    assert f"applied {', '.join(revision_ids())}" in reset.stderr
    assert "(0 rows)" in sql(dev_env, "SELECT symbol FROM tick_data")
    ok(run_invoke("db.status", "--check", env=dev_env))


def test_status_shows_versions_pending_and_unknown_revisions(dev_env):
    ok(run_invoke("db.up", env=dev_env))
    status = ok(run_invoke("db.status", "--check", env=dev_env)).stdout
    hypertables = f"({len(committed_hypertables())})"
    for expected in (
        "running",
        "127.0.0.1:",
        *head_revisions(),
        "tick_data",
        hypertables,
    ):
        assert expected in status
    assert "stock:***@" in status

    # --no-dump: this test database is not the one db/schema.sql speaks for.
    ok(run_invoke("db.downgrade", "--steps", "1", "--yes", "--no-dump", env=dev_env))
    pending = run_invoke("db.status", "--check", env=dev_env)
    assert pending.returncode == 1
    assert f"pending: {head_revisions()[0]}" in pending.stderr
    assert pending.stderr.count("TIP:") == 1

    ok(run_invoke("db.upgrade", "--no-dump", env=dev_env))
    sql(dev_env, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    unknown = run_invoke("db.status", "--check", env=dev_env)
    assert unknown.returncode == 1
    assert "no migration file knows it" in unknown.stdout
    assert "f00dfeed" in unknown.stderr


def test_redo_runs_the_last_revision_down_and_up(dev_env):
    ok(run_invoke("db.up", env=dev_env))
    first = first_revision()
    if revision_ids() != [first]:
        # Down to the first revision: redoing it is what drops every table.
        ok(
            run_invoke(
                "db.downgrade", "--revision", first, "--yes", "--no-dump", env=dev_env
            )
        )
    sql(
        dev_env,
        "INSERT INTO tick_data VALUES ('REDO', now(), 1.5, 10, 'buy', NULL, NULL)",
    )
    # The first revision drops every table, so redo asks; --no-dump keeps
    # db/schema.sql out of it.
    assert run_invoke("db.redo", "--no-dump", env=dev_env).returncode == 1
    redone = ok(run_invoke("db.redo", "--yes", "--no-dump", env=dev_env))
    assert f"Redid {first}" in redone.stderr
    assert "(0 rows)" in sql(dev_env, "SELECT symbol FROM tick_data")
    ok(run_invoke("db.upgrade", "--no-dump", env=dev_env))
    ok(run_invoke("db.status", "--check", env=dev_env))


def test_port_drift_warns_and_says_how_to_recreate(dev_env):
    fixed = {**dev_env, "DEVDB_PORT": str(free_port())}
    ok(run_invoke("db.up", "--no-migrate", env=fixed))
    moved = {**dev_env, "DEVDB_PORT": str(free_port())}
    result = ok(run_invoke("db.up", "--no-migrate", env=moved))
    assert "WARNING:" in result.stderr and "--recreate" in result.stderr
    recreated = ok(run_invoke("db.up", "--no-migrate", "--recreate", env=moved))
    assert f"localhost:{moved['DEVDB_PORT']}/" in recreated.stderr


def test_logs_and_psql(dev_env):
    ok(run_invoke("db.up", "--no-migrate", env=dev_env))
    logs = ok(run_invoke("db.logs", "--tail", "20", env=dev_env))
    assert "database system is ready to accept connections" in logs.stdout
    assert "42" in sql(dev_env, "SELECT 42")
    failing = run_invoke("db.psql", "-c", "SELECT * FROM no_such_table", env=dev_env)
    assert failing.returncode != 0 and "no_such_table" in failing.stderr
