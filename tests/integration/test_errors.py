"""Every expected failure: one ERROR line, one TIP line, non-zero exit, no traceback,
no password. Each runs the real `invoke` CLI; the ones that need a server get a real
throwaway container.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import (
    assert_clean_failure,
    base_environment,
    first_revision,
    remove_container_and_volume,
    revision_ids,
    run_invoke,
)

from devdb.settings import PROJECT_ROOT

SECRET = "s3cret-" + secrets.token_hex(4)


@pytest.fixture
def own_container(docker_client) -> Iterator[dict[str, str]]:
    name = f"stock-tracker-db-err-{secrets.token_hex(4)}"
    yield base_environment(DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0")
    remove_container_and_volume(docker_client, name)


def url_of(settings, password: str | None = None) -> str:
    url = settings.url()
    if password is not None:
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def test_docker_daemon_unreachable(own_container):
    env = {**own_container, "DOCKER_HOST": "tcp://127.0.0.1:1"}
    result = run_invoke("db.up", env=env)
    assert_clean_failure(result, "Docker daemon is not reachable", SECRET)


def test_port_already_in_use(docker_client, own_container):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = str(squatter.getsockname()[1])
        result = run_invoke("db.up", env={**own_container, "DEVDB_PORT": port})
    assert_clean_failure(result, f"port {port} on 127.0.0.1 is already in use", SECRET)
    name = own_container["DEVDB_CONTAINER_NAME"]
    assert not docker_client.containers.list(all=True, filters={"name": name})


def test_malformed_database_url_is_not_echoed(own_container):
    env = {
        **own_container,
        "DATABASE_URL": f"postgresql://stock:{SECRET}@localhost:notaport/db",
    }
    for task in ("db.upgrade", "db.status", "db.current"):
        assert_clean_failure(run_invoke(task, env=env), "DATABASE_URL is not", SECRET)


def test_wrong_password(fresh_database, own_container):
    env = {**own_container, "DATABASE_URL": url_of(fresh_database.settings, SECRET)}
    result = run_invoke("db.upgrade", env=env)
    assert_clean_failure(
        result, "rejected the password", fresh_database.settings.password, SECRET
    )


def test_wrong_password_for_the_dev_volume(own_container):
    """The volume was initialised with one password; db.up is given another."""
    from devdb.settings import load_settings

    assert run_invoke("db.up", "--no-migrate", env=own_container).returncode == 0
    env = {**own_container, "DEVDB_PASSWORD": SECRET}
    result = run_invoke("db.up", env=env)
    assert_clean_failure(
        result, "rejected the password", load_settings().password + "@", SECRET
    )


def test_unknown_revision(fresh_database, own_container):
    env = {**own_container, "DATABASE_URL": url_of(fresh_database.settings)}
    result = run_invoke("db.upgrade", "--revision", "nope", env=env)
    assert_clean_failure(
        result, "unknown revision 'nope'", fresh_database.settings.password, SECRET
    )


# The real `invoke` program, with the image table's official reference pointing at a
# tag that exists in no registry: "not pullable" then means the same on this
# registry-less machine and on a laptop with Docker Hub.
INVOKE_WITH_UNPULLABLE_OFFICIAL_IMAGE = """
import dataclasses, sys
from devdb.images import table as images
images.IMAGES = tuple(
    dataclasses.replace(spec, official="timescale/timescaledb:0.0.0-no-such-tag")
    for spec in images.IMAGES
)
from invoke.main import program
program.run(["invoke", *sys.argv[1:]])
"""


def test_image_missing_and_not_pullable(docker_client, own_container):
    env = {**own_container, "DEVDB_IMAGE_SOURCE": "official"}
    result = subprocess.run(
        [sys.executable, "-c", INVOKE_WITH_UNPULLABLE_OFFICIAL_IMAGE, "db.up"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert_clean_failure(
        result, "could not pull timescale/timescaledb:0.0.0-no-such-tag", SECRET
    )
    assert "invoke image.build" in result.stderr
    name = own_container["DEVDB_CONTAINER_NAME"]
    assert not docker_client.containers.list(all=True, filters={"name": name})


def test_database_without_timescaledb(docker_client, test_settings, own_container):
    from devdb.containers.throwaway import throwaway_database
    from devdb.images import table as images

    plain = images.image_spec("pg15-plain")
    with throwaway_database(plain, client=docker_client, settings=test_settings) as db:
        env = {**own_container, "DATABASE_URL": url_of(db.settings)}
        result = run_invoke("db.upgrade", env=env)
        assert_clean_failure(
            result, "no timescaledb extension", db.settings.password, SECRET
        )
        status = run_invoke("db.status", env=env)
        assert "not available on this server" in status.stdout


REMOTE_URL = f"postgresql://u:{SECRET}@db.example.com:5432/x"


# Every spelling of "down to base" that needs no database to resolve: the guard
# must refuse each before any connection is tried.
# Relative targets reach base from wherever today's revisions leave them.
STEPS_TO_BASE = len(revision_ids())


@pytest.mark.parametrize(
    "target",
    [
        "base",
        f"{first_revision()}-1",
        f"head-{STEPS_TO_BASE}",
        f"heads-{STEPS_TO_BASE}",
    ],
)
def test_downgrade_to_base_refuses_a_remote_host_before_connecting(
    own_container, target
):
    env = {**own_container, "DATABASE_URL": REMOTE_URL}
    result = run_invoke("db.downgrade", "--revision", target, env=env)
    # db.example.com does not answer: a connection attempt would end in an ERROR
    # about the connection. The refusal's ERROR proves it came first.
    assert_clean_failure(result, "refusing to downgrade to base", SECRET)
    assert "not a local database" in result.stderr
    assert "--force" in result.stderr


def test_reset_refuses_a_remote_host_and_redo_never_reaches_it(own_container):
    env = {**own_container, "DATABASE_URL": REMOTE_URL}
    assert_clean_failure(
        run_invoke("db.reset", "--yes", env=env), "not a local database", SECRET
    )
    # redo on a non-local database is refused before any connection is tried.
    assert_clean_failure(
        run_invoke("db.redo", "--yes", env=env), "not a local database", SECRET
    )


def test_readiness_timeout_shows_the_container_log(own_container):
    env = {**own_container, "DEVDB_READY_TIMEOUT": "0.2"}
    result = run_invoke("db.up", env=env)
    assert_clean_failure(result, "did not answer a query", SECRET)
    assert "last log lines" in result.stderr
