"""Refused as non-local: every way libpq or Docker can be sent to another machine.

A real dev container holds seeded rows. Each task below is given a target that
libpq (or the Docker client) would really take to that container through its
bridge address, which is not this machine's loopback: without the guard, each
one would drop or delete the rows. Each must refuse without --force, before
connecting, in one ERROR and one TIP, and every row must still be there.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    INVOKE,
    assert_clean_failure,
    base_environment,
    ok,
    remove_container_and_volume,
    run_invoke,
)

from devdb.settings import PROJECT_ROOT, load_settings

SEEDED = ("tick_data", "candles_1m")


@pytest.fixture(scope="module")
def dev(docker_client) -> Iterator[dict[str, str]]:
    """A dev container of its own, seeded; its environment (no DATABASE_URL)."""
    name = f"locality-{secrets.token_hex(4)}"
    env = base_environment(DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0")
    try:
        ok(run_invoke("db.up", env=env))
        ok(run_invoke("db.seed", "--yes", env=env))
        yield env
    finally:
        remove_container_and_volume(docker_client, name)


@pytest.fixture(scope="module")
def bridge_address(dev, docker_client) -> str:
    """The dev container's address on Docker's bridge: reachable, not loopback."""
    container = docker_client.containers.get(dev["DEVDB_CONTAINER_NAME"])
    networks = container.attrs["NetworkSettings"]["Networks"]
    address = next(n["IPAddress"] for n in networks.values() if n["IPAddress"])
    assert not address.startswith("127.")
    # libpq really reaches the database there: the guard is all that stands between.
    with socket.create_connection((address, 5432), timeout=5):
        pass
    return str(address)


def row_counts(env: dict[str, str]) -> dict[str, int]:
    output = ok(
        run_invoke(
            "db.psql",
            "-c",
            " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in SEEDED),
            env=env,
        )
    ).stdout
    counts = {}
    for line in output.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 2 and parts[0] in SEEDED:
            counts[parts[0]] = int(parts[1])
    assert set(counts) == set(SEEDED) and all(counts.values()), output
    return counts


def url(host_part: str, query: str = "") -> str:
    settings = load_settings(base_environment())
    return (
        f"postgresql://{settings.user}:{settings.password}@{host_part}/"
        f"{settings.database}" + (f"?{query}" if query else "")
    )


def refused(result: subprocess.CompletedProcess[str], *named: str) -> None:
    output = assert_clean_failure(result, "not a local")
    assert "--force" in output
    for place in named:
        assert place in output, output


def test_hostaddr_is_where_the_connection_goes(dev, bridge_address) -> None:
    before = row_counts(dev)
    env = base_environment(
        DATABASE_URL=url("localhost:5432", f"hostaddr={bridge_address}")
    )
    refused(run_invoke("db.reset", "--yes", env=env), bridge_address)
    assert row_counts(dev) == before


def test_every_host_of_a_host_list_counts(dev, bridge_address) -> None:
    before = row_counts(dev)
    # Nothing answers on the first host, so libpq would go on to the second.
    with (
        pytest.raises(OSError),
        socket.create_connection(("127.0.0.2", 5432), timeout=2),
    ):
        pass
    env = base_environment(DATABASE_URL=url(f"127.0.0.2,{bridge_address}:5432"))
    refused(run_invoke("db.reset", "--yes", env=env), bridge_address)
    assert row_counts(dev) == before


def test_pghostaddr_in_the_environment_counts(dev, bridge_address) -> None:
    before = row_counts(dev)
    env = base_environment(
        DATABASE_URL=url("localhost:5432"), PGHOSTADDR=bridge_address
    )
    refused(run_invoke("db.reset", "--yes", env=env), bridge_address)
    assert row_counts(dev) == before


def test_a_name_is_not_local_for_how_it_is_spelled(
    dev, bridge_address, tmp_path: Path
) -> None:
    """127.example.invalid resolves (in a private /etc/hosts) to the container."""
    before = row_counts(dev)
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{bridge_address} 127.example.invalid\n")
    hosts.chmod(0o644)
    env = base_environment(DATABASE_URL=url("127.example.invalid:5432"))
    # A mount namespace of its own: this machine's /etc/hosts is not touched.
    in_namespace = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$0" /etc/hosts && exec "$@"',
        str(hosts),
    ]
    resolved = subprocess.run(
        [*in_namespace, "getent", "hosts", "127.example.invalid"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert resolved.stdout.split()[:1] == [bridge_address], resolved
    result = subprocess.run(
        [*in_namespace, *INVOKE, "db.reset", "--yes"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    refused(result, "127.example.invalid", bridge_address)
    assert row_counts(dev) == before
    # Where the name does not resolve at all, it is not local either.
    refused(run_invoke("db.reset", "--yes", env=env), "does not resolve here")


@pytest.fixture
def remote_context(tmp_path: Path) -> Iterator[Path]:
    """A Docker CLI config whose current context names another machine's engine."""
    config = tmp_path / "docker-config"
    config.mkdir()
    environ = {"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for command in (
        [
            "docker",
            "context",
            "create",
            "remote",
            "--docker",
            "host=tcp://engine.example.invalid:2375",
        ],
        ["docker", "context", "use", "remote"],
    ):
        subprocess.run(command, env=environ, check=True, capture_output=True)
    assert json.loads((config / "config.json").read_text())["currentContext"] == (
        "remote"
    )
    yield config


def test_a_docker_context_naming_another_machine(dev, remote_context) -> None:
    before = row_counts(dev)
    for context_env in (
        {"DOCKER_CONFIG": str(remote_context)},
        {"DOCKER_CONFIG": str(remote_context), "DOCKER_CONTEXT": "remote"},
    ):
        env = {**dev, **context_env}
        env.pop("DOCKER_HOST", None)
        refused(
            run_invoke("db.destroy", "--yes", env=env),
            "tcp://engine.example.invalid:2375 (Docker context 'remote')",
        )
        # The dev database on that engine counts as remote too, whatever its host.
        refused(run_invoke("db.reset", "--yes", env=env), "Docker context 'remote'")
        # A task that does reach for the engine names where it really looked.
        result = run_invoke("db.down", env=env)
        output = assert_clean_failure(result, "not reachable")
        assert "tcp://engine.example.invalid:2375 (Docker context 'remote')" in output
        assert "default socket" not in output
    assert row_counts(dev) == before
