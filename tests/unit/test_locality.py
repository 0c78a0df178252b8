"""Local or not, decided from where libpq and the Docker client really go.

Names resolve through a table here (no DNS); the real resolver is exercised by
tests/integration/test_locality_acceptance.py on real containers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.locality import (
    DockerEndpoint,
    database_locality,
    docker_endpoint,
    engine_locality,
    libpq_places,
)
from devdb.settings import Settings, load_settings

NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "loopback-only.test": ["127.0.1.1"],
    "db.prod.example": ["203.0.113.7"],
    "split.test": ["127.0.0.1", "198.51.100.3"],
}


def resolve(name: str) -> list[str]:
    return NAMES.get(name, [])


def places(parameters: dict[str, str], environ: dict[str, str] | None = None):
    return libpq_places(parameters, environ or {}, resolve)


def local(parameters: dict[str, str], environ: dict[str, str] | None = None) -> bool:
    return all(place.local for place in places(parameters, environ))


@pytest.mark.parametrize(
    ("host", "is_local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("loopback-only.test", True),
        ("/var/run/postgresql", True),
        ("", True),  # libpq's default: a Unix socket
        ("db.prod.example", False),
        ("10.0.0.5", False),
        ("0.0.0.0", False),
        # Spelled like loopback, resolves to nothing here: not local.
        ("127.example.invalid", False),
        # One loopback address is not enough: libpq may get the other.
        ("split.test", False),
    ],
)
def test_a_host(host: str, is_local: bool) -> None:
    assert local({"host": host, "port": "5432"}) is is_local


def test_every_host_of_a_list_counts() -> None:
    assert local({"host": "localhost,127.0.0.1"})
    assert not local({"host": "127.0.0.1,db.prod.example"})
    assert not local({"host": "localhost,172.17.0.3"})
    verdict = places({"host": "127.0.0.1,172.17.0.3"})
    assert [p.local for p in verdict] == [True, False]
    assert "172.17.0.3" in verdict[1].where


def test_hostaddr_is_where_libpq_connects() -> None:
    assert not local({"host": "localhost", "hostaddr": "172.17.0.3"})
    assert local({"host": "db.prod.example", "hostaddr": "127.0.0.1"})
    assert not local({"host": "localhost,localhost", "hostaddr": "127.0.0.1,10.0.0.9"})


def test_the_environment_fills_in_what_the_parameters_leave_out() -> None:
    assert not local({"host": "localhost"}, {"PGHOSTADDR": "172.17.0.3"})
    assert not local({}, {"PGHOST": "db.prod.example"})
    # An explicit host beats PGHOST, as in libpq.
    assert local({"host": "localhost"}, {"PGHOST": "db.prod.example"})


def test_a_service_entry_is_read(tmp_path: Path) -> None:
    services = tmp_path / "services.conf"
    services.write_text(
        "# comment\n[local]\nhost=localhost\n[prod]\nhost=db.prod.example\n"
        "[sneaky]\nhostaddr=172.17.0.3\n"
    )
    environ = {"PGSERVICEFILE": str(services)}
    assert local({"service": "local"}, environ)
    assert not local({"service": "prod"}, environ)
    # The service's hostaddr applies under an explicit host (libpq fills gaps).
    assert not local({"host": "localhost", "service": "sneaky"}, environ)
    assert not local({"host": "localhost"}, {**environ, "PGSERVICE": "sneaky"})
    assert str(services) in places({"service": "prod"}, environ)[0].where
    # The system's file, from PGSYSCONFDIR, when the user's has no such entry.
    (tmp_path / "pg_service.conf").write_text("[system]\nhost=db.prod.example\n")
    assert not local({"service": "system"}, {"PGSYSCONFDIR": str(tmp_path)})
    with pytest.raises(DevDbError, match="'missing' is in no service file"):
        places({"service": "missing"}, {"HOME": str(tmp_path)})


def test_a_url_is_read_by_libpqs_own_rules() -> None:
    """Quoting in the keyword string is libpq's: a space or quote changes nothing."""
    assert not local({"host": "db.prod.example", "dbname": "a b' c", "user": "x y"})


def write_context(config: Path, name: str, host: str, *, current: bool) -> None:
    """A Docker CLI context, laid out as `docker context create` lays it out."""
    import hashlib

    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
            }
        )
    )
    if current:
        (config / "config.json").write_text(json.dumps({"currentContext": name}))


def test_the_docker_context_is_followed(tmp_path: Path, monkeypatch) -> None:
    # docker-py reads contexts where DOCKER_CONFIG says, from the process env.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    write_context(tmp_path, "remote", "tcp://engine.example.invalid:2375", current=True)
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    endpoint = docker_endpoint(environ)
    assert endpoint.url == "tcp://engine.example.invalid:2375"
    assert endpoint.describe() == (
        "tcp://engine.example.invalid:2375 (Docker context 'remote')"
    )
    assert not engine_locality(environ, resolve).local
    # DOCKER_CONTEXT picks another; DOCKER_HOST outranks both.
    write_context(tmp_path, "here", "unix:///var/run/docker.sock", current=False)
    assert engine_locality({**environ, "DOCKER_CONTEXT": "here"}, resolve).local
    assert engine_locality(
        {**environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}, resolve
    ).local
    with pytest.raises(DevDbError, match="context 'gone'"):
        docker_endpoint({**environ, "DOCKER_CONTEXT": "gone"})


def test_a_remote_engine_makes_the_dev_database_non_local(tmp_path: Path) -> None:
    settings = load_settings(
        {"DOCKER_HOST": "ssh://me@build.example.invalid", "DEVDB_HOST": "localhost"},
        project_root=tmp_path,
    )
    # An SSH tunnel's localhost, but the volume is on the other machine.
    assert settings.host == "localhost"
    environ = {"DOCKER_HOST": "ssh://me@build.example.invalid"}
    verdict = database_locality(settings, environ, resolve)
    assert not verdict.local
    assert "the Docker engine at ssh://me@build.example.invalid" in verdict.where()
    # A database named by DATABASE_URL is judged by its own address only.
    named = Settings(host="localhost", exact_target=True)
    assert database_locality(named, environ, resolve).local


@pytest.mark.parametrize(
    ("url", "is_local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("npipe:////./pipe/docker_engine", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://localhost:2375", True),
        ("tcp://[::1]:2375", True),
        ("ssh://me@db.prod.example", False),
        ("tcp://10.0.0.9:2376", False),
        ("tcp://127.example.invalid:2376", False),
    ],
)
def test_engine_endpoints(url: str, is_local: bool) -> None:
    assert DockerEndpoint(url, "DOCKER_HOST").place(resolve).local is is_local
