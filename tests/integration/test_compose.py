"""docker-compose.yml's dev path gives Alembic head's schema, and stamp adopts it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from helpers import free_port, head_revisions

from devdb.images.fetch import ensure_image
from devdb.images.table import reference_image
from devdb.schema import migrations
from devdb.schema.dump import dump_schema
from devdb.settings import PROJECT_ROOT

PROJECT_NAME = "devdb-compose-test"


def compose_command() -> list[str]:
    """`docker compose` (the plugin) where it exists, else `docker-compose`."""
    plugin = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True
    )
    if plugin.returncode == 0:
        return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail("neither `docker compose` nor `docker-compose` is installed")
    return [legacy]


@pytest.fixture
def compose_database(docker_client, test_settings) -> Iterator:
    spec = reference_image()
    image_ref = ensure_image(
        docker_client,
        spec,
        test_settings.image_source,
        mirror=test_settings.debian_mirror,
    )
    port = free_port()
    environment = {
        **os.environ,
        "TIMESCALEDB_IMAGE": image_ref,
        "POSTGRES_PORT": str(port),
    }
    compose = [
        *compose_command(),
        "-p",
        PROJECT_NAME,
        "-f",
        str(PROJECT_ROOT / "docker-compose.yml"),
    ]
    run = dict(env=environment, capture_output=True, text=True, timeout=180)
    try:
        started = subprocess.run([*compose, "up", "-d"], **run)
        assert started.returncode == 0, started.stderr
        container_id = subprocess.run(
            [*compose, "ps", "-q", "db"], **run
        ).stdout.strip()
        container = docker_client.containers.get(container_id)
        yield container, port
    finally:
        subprocess.run([*compose, "down", "-v"], **run)


def wait_healthy(container, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status")
        if health == "healthy":
            return
        time.sleep(0.5)
    pytest.fail(f"compose database never became healthy: {container.logs(tail=20)!r}")


def test_compose_database_equals_alembic_head_and_is_adopted(
    compose_database, fresh_database
) -> None:
    container, port = compose_database
    bindings = container.attrs["HostConfig"]["PortBindings"]["5432/tcp"]
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}
    wait_healthy(container)

    # The compose file's credentials, on the port the test chose.
    compose_settings = replace(
        fresh_database.settings,
        port=port,
        user="stock",
        password="stock",
        database="stock_tracker",
    )
    migrations.upgrade(fresh_database.settings, "head")
    from_alembic = dump_schema(
        fresh_database.container, fresh_database.settings, include_revision=False
    )
    from_compose = dump_schema(container, compose_settings, include_revision=False)
    assert from_compose == from_alembic

    migrations.stamp(compose_settings, "head")
    assert migrations.current(compose_settings) == head_revisions()
    migrations.upgrade(compose_settings, "head")
    assert (
        dump_schema(container, compose_settings, include_revision=False) == from_alembic
    )
