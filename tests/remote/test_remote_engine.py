"""A remote Docker engine: reached over TLS, its dev database published on its host
with a password nobody knows, and guarded as another machine's.

Needs DOCKER_HOST naming an engine that is not on loopback, with DOCKER_TLS_VERIFY
and DOCKER_CERT_PATH as a real remote engine wants; on one machine,
`sudo scripts/second-engine.sh start` makes one and prints the exports (see that
script). Without such an engine these tests fail, saying so; they never skip.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devdb import lifecycle, status
from devdb.containers import engine as containers
from devdb.errors import DevDbError
from devdb.locality import docker_engine_host
from devdb.settings import PROJECT_ROOT, Settings, load_settings

CONTAINER = "devdb-remote-engine-test"


def engine_address() -> tuple[str, int]:
    parts = urlsplit(os.environ.get("DOCKER_HOST", ""))
    return str(parts.hostname), int(parts.port or 2376)


@pytest.fixture(scope="module")
def engine(docker_client) -> str:
    host = docker_engine_host(dict(os.environ))
    if host is None or not os.environ.get("DOCKER_TLS_VERIFY"):
        pytest.fail(
            "DOCKER_HOST names no remote TLS engine (got "
            f"{os.environ.get('DOCKER_HOST') or 'nothing'}, DOCKER_TLS_VERIFY="
            f"{os.environ.get('DOCKER_TLS_VERIFY') or 'unset'}); run "
            '`eval "$(sudo scripts/second-engine.sh start)"`',
            pytrace=False,
        )
    return host


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project: the remote database's password is written into its
    devdb.local.toml, never into the checkout's."""
    copy = tmp_path_factory.mktemp("remote-project")
    for part in ("backend", "db"):
        shutil.copytree(
            PROJECT_ROOT / part,
            copy / part,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(PROJECT_ROOT / "devdb.toml", copy / "devdb.toml")
    return copy


@pytest.fixture(scope="module")
def remote_settings(engine, project) -> Iterator[Settings]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ["DEVDB_CONTAINER_NAME"] = CONTAINER
    environ["DEVDB_PORT"] = "0"
    environ.pop("DEVDB_PASSWORD", None)
    settings = load_settings(environ, project_root=project)
    yield settings
    lifecycle.destroy(settings, yes=True, force=True)


def test_the_engine_wants_a_client_certificate(engine) -> None:
    host, port = engine_address()
    context = ssl.create_default_context(
        cafile=str(Path(os.environ["DOCKER_CERT_PATH"]) / "ca.pem")
    )
    # The server's certificate is good, but without ours the handshake fails.
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        if not tls.recv(1):
            raise ConnectionError("closed without an answer")
    # Plain HTTP is no way in either.
    with socket.create_connection((host, port), timeout=10) as plain:
        plain.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = plain.recv(200)
    assert b"ApiVersion" not in answer


def this_machines_addresses() -> list[str]:
    shown = subprocess.run(
        ["ip", "-j", "addr"], check=True, capture_output=True, text=True
    ).stdout
    return [
        info["local"]
        for interface in json.loads(shown)
        for info in interface.get("addr_info", [])
        if not ipaddress.ip_address(info["local"]).is_link_local
    ]


def test_nothing_on_the_machines_other_addresses_answers_on_its_port(engine) -> None:
    host, port = engine_address()
    others = [a for a in this_machines_addresses() if a != host]
    assert others, "this machine has no other address to try"
    for address in others:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(3)
            assert probe.connect_ex((address, port)) != 0, f"{address}:{port} answers"


def test_up_publishes_on_the_engine_host_with_a_private_password(
    remote_settings, docker_client, engine, project, capsys
) -> None:
    assert remote_settings.host == engine
    assert remote_settings.engine_address == engine

    result = lifecycle.up(remote_settings)
    assert result.applied  # Alembic reached the database on the engine's host
    said = capsys.readouterr().err
    assert f"published on {socket.gethostbyname(engine)}:{result.port}" in said
    assert "ssh -N -L" in said

    container = docker_client.containers.get(result.container_id)
    bindings = container.attrs["HostConfig"]["PortBindings"]["5432/tcp"]
    assert {binding["HostIp"] for binding in bindings} == {socket.gethostbyname(engine)}
    assert containers.published_port(container) == result.port

    # Not the project's well-known password: a random one, kept for later tasks
    # in devdb.local.toml, which only its owner may read.
    local_file = project / "devdb.local.toml"
    assert stat.S_IMODE(local_file.stat().st_mode) == 0o600
    later = load_settings(
        {**os.environ, "DEVDB_CONTAINER_NAME": CONTAINER}, project_root=project
    )
    assert later.password not in ("", "stock") and len(later.password) >= 24
    environment = container.attrs["Config"]["Env"]
    assert f"POSTGRES_PASSWORD={later.password}" in environment
    from devdb.database import connect

    with (
        pytest.raises(DevDbError, match="rejected the password"),
        connect(replace(later, port=result.port, password="stock", exact_target=True)),
    ):
        pass

    # Reused on the second call, and found at head without migrating again.
    again = lifecycle.up(replace(later, port=result.port))
    assert (again.created, again.applied) == (False, ())
    report = status.status(later)
    assert report.url.startswith(f"postgresql://stock:***@{engine}:")


def test_destroy_under_a_context_naming_the_engine_is_refused(
    remote_settings, engine, tmp_path, project, docker_client
) -> None:
    """A Docker context (not DOCKER_HOST) that names the remote engine: the
    engine is reachable, the container and volume would go without the guard."""
    # Read again: the first db.up saved the database's random password.
    lifecycle.up(
        replace(
            load_settings(dict(os.environ), project_root=project),
            container_name=CONTAINER,
            port=0,
        )
    )
    certs = Path(os.environ["DOCKER_CERT_PATH"])
    config = tmp_path / "docker-config"
    config.mkdir()
    cli_env = {"DOCKER_CONFIG": str(config), "PATH": os.environ["PATH"]}
    subprocess.run(
        [
            "docker",
            "context",
            "create",
            "tlsremote",
            "--docker",
            f"host={os.environ['DOCKER_HOST']},ca={certs / 'ca.pem'},"
            f"cert={certs / 'cert.pem'},key={certs / 'key.pem'}",
        ],
        env=cli_env,
        check=True,
        capture_output=True,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
    }
    env.update(
        DOCKER_CONFIG=str(config),
        DOCKER_CONTEXT="tlsremote",
        DEVDB_CONTAINER_NAME=CONTAINER,
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "db.destroy", "--yes"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "not a local Docker engine" in output
    assert "Docker context 'tlsremote'" in output
    assert docker_client.containers.get(CONTAINER)
    assert docker_client.volumes.get(f"{CONTAINER}-data")
