"""Shared fixtures. Tests marked `docker` use real containers and FAIL without Docker."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from helpers import base_environment, create_database, remove_container_and_volume

from devdb.settings import PROJECT_ROOT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name != "unit":
            item.add_marker(pytest.mark.docker)


CONTRACT_FILES = ("db/schema.sql", "db/alembic.sum")


@pytest.fixture(scope="session", autouse=True)
def committed_contract_is_left_alone() -> Iterator[None]:
    """No test may rewrite the committed schema dump or checksum list.

    Tests that migrate a dev-like database pass --no-dump; one that forgets would
    leave the developer's tree dirty and fail the contract checks run after it.
    """
    before = {name: (PROJECT_ROOT / name).read_bytes() for name in CONTRACT_FILES}
    yield
    changed = [
        n for n in CONTRACT_FILES if (PROJECT_ROOT / n).read_bytes() != before[n]
    ]
    for name in changed:
        (PROJECT_ROOT / name).write_bytes(before[name])
    assert not changed, f"a test rewrote {', '.join(changed)} (restored now)"


@pytest.fixture(scope="session")
def docker_client():
    """A reachable Docker engine, or a failure (never a skip) saying so."""
    from devdb.containers import engine as containers
    from devdb.errors import DevDbError

    try:
        return containers.docker_client()
    except DevDbError as error:
        pytest.fail(f"this test needs Docker: {error.render()}", pytrace=False)


@pytest.fixture(scope="session")
def test_settings():
    """Settings for tests: never the developer's DATABASE_URL or dev container."""
    from devdb.settings import load_settings

    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.setdefault("DEVDB_CONTAINER_NAME", "stock-tracker-db-test")
    environ.setdefault("DEVDB_READY_TIMEOUT", "90")
    return load_settings(environ)


@pytest.fixture(scope="session")
def reference_spec():
    """The image the tests run on: DEVDB_TEST_IMAGE, else the reference row."""
    from devdb.images import table as images

    image_id = os.environ.get("DEVDB_TEST_IMAGE")
    return images.image_spec(image_id) if image_id else images.reference_image()


@pytest.fixture(scope="session")
def database_server(docker_client, test_settings, reference_spec) -> Iterator:
    """One throwaway server for the session; tests get fresh databases inside it.

    Starting a container costs seconds, CREATE DATABASE milliseconds: sharing the
    server keeps the suite fast while every test still starts from an empty
    database. The matrix cell is this same server (tests/matrix/conftest.py).
    """
    from devdb.containers.throwaway import throwaway_database

    with throwaway_database(
        reference_spec, client=docker_client, settings=test_settings
    ) as database:
        yield database


@pytest.fixture
def fresh_database(database_server):
    """An empty database of its own, on the session's throwaway server."""
    return create_database(database_server, "fresh")


@pytest.fixture(scope="session")
def init_path_database(docker_client, test_settings, reference_spec) -> Iterator:
    """A database initialised by the docker-compose path: db/migrations/*.sql."""
    from devdb.containers.throwaway import throwaway_database

    with throwaway_database(
        reference_spec,
        client=docker_client,
        settings=test_settings,
        init_sql_dir=str(PROJECT_ROOT / "db" / "migrations"),
    ) as database:
        yield database


@pytest.fixture
def dev_env(docker_client) -> Iterator[dict[str, str]]:
    """Environment for an own dev container on a random free port; removed after.

    Never the developer's `stock-tracker-db`: tests drive `invoke db.*` on it.
    """
    name = f"stock-tracker-db-it-{secrets.token_hex(4)}"
    yield base_environment(DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0")
    remove_container_and_volume(docker_client, name)
