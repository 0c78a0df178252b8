"""A remote Docker engine: the dev database is published and reached on its host.

Needs DOCKER_HOST naming an engine that is not on loopback; on one machine,
`sudo scripts/second-engine.sh start` makes one (see that script). Without such
an engine these tests fail, saying so; they never skip.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from devdb import lifecycle, status
from devdb.containers import engine as containers
from devdb.locality import docker_engine_host
from devdb.settings import load_settings


@pytest.fixture
def remote_settings(docker_client) -> Iterator:
    engine = docker_engine_host(dict(os.environ))
    if engine is None:
        pytest.fail(
            "DOCKER_HOST names no remote engine (got "
            f"{os.environ.get('DOCKER_HOST') or 'nothing'}); run "
            "`sudo scripts/second-engine.sh start` and export what it prints",
            pytrace=False,
        )
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ["DEVDB_CONTAINER_NAME"] = "devdb-remote-engine-test"
    environ["DEVDB_PORT"] = "0"
    settings = load_settings(environ)
    yield settings
    lifecycle.destroy(settings, yes=True, force=True)


def test_up_publishes_on_the_engine_host_and_reaches_it_there(
    remote_settings, docker_client
) -> None:
    engine = docker_engine_host(dict(os.environ))
    assert remote_settings.host == engine
    assert remote_settings.engine_address == engine

    result = lifecycle.up(remote_settings)
    assert result.applied  # Alembic reached the database on the engine's host

    container = docker_client.containers.get(result.container_id)
    bindings = container.attrs["HostConfig"]["PortBindings"]["5432/tcp"]
    assert {binding["HostIp"] for binding in bindings} == {socket.gethostbyname(engine)}
    assert containers.published_port(container) == result.port

    # Reused on the second call, and found at head without migrating again.
    again = lifecycle.up(replace(remote_settings, port=result.port))
    assert (again.created, again.applied) == (False, ())
    report = status.status(remote_settings)
    assert report.url.startswith(f"postgresql://stock:***@{engine}:")
