"""Where the dev database is reached: this machine, or a remote Docker engine's host."""

from __future__ import annotations

import pytest

from devdb.locality import docker_engine_host
from devdb.settings import load_settings


@pytest.mark.parametrize(
    "docker_host, expected",
    [
        ("", None),
        ("unix:///var/run/docker.sock", None),
        ("npipe:////./pipe/docker_engine", None),
        ("tcp://127.0.0.1:2375", None),
        ("tcp://localhost:2375", None),
        ("tcp://[::1]:2375", None),
        ("tcp://10.0.0.5:2376", "10.0.0.5"),
        ("tcp://build-box.example:2376", "build-box.example"),
        ("ssh://ci@build-box.example", "build-box.example"),
        ("ssh://ci@build-box.example:2222", "build-box.example"),
        ("https://[2001:db8::7]:2376", "2001:db8::7"),
    ],
)
def test_docker_engine_host(docker_host: str, expected: str | None) -> None:
    assert docker_engine_host({"DOCKER_HOST": docker_host}) == expected


def test_a_local_engine_keeps_loopback(tmp_path) -> None:
    settings = load_settings({"HOME": str(tmp_path)}, project_root=tmp_path)
    assert settings.engine_host == ""
    assert settings.engine_address == "127.0.0.1"


def test_a_remote_engine_is_the_default_host(tmp_path) -> None:
    settings = load_settings(
        {"DOCKER_HOST": "tcp://10.0.0.5:2376"}, project_root=tmp_path
    )
    assert settings.host == "10.0.0.5"
    assert settings.engine_address == "10.0.0.5"
    assert settings.engine_host == "10.0.0.5"


def test_devdb_host_overrides_the_engine_host(tmp_path) -> None:
    settings = load_settings(
        {"DOCKER_HOST": "ssh://ci@build-box", "DEVDB_HOST": "127.0.0.1"},
        project_root=tmp_path,
    )
    # The local end of an SSH tunnel; the engine is still another machine's.
    assert settings.engine_address == "127.0.0.1"
    assert settings.engine_host == "build-box"


def test_database_url_still_wins(tmp_path) -> None:
    settings = load_settings(
        {
            "DOCKER_HOST": "tcp://10.0.0.5:2376",
            "DATABASE_URL": "postgresql://u:p@db.example:5432/app",
        },
        project_root=tmp_path,
    )
    assert settings.host == "db.example"


def test_a_remote_engine_outranks_the_project_file_not_the_local_one(tmp_path) -> None:
    (tmp_path / "devdb.toml").write_text('[devdb]\nhost = "localhost"\n')
    remote = {"DOCKER_HOST": "tcp://10.0.0.5:2376"}
    assert load_settings(remote, project_root=tmp_path).host == "10.0.0.5"
    (tmp_path / "devdb.local.toml").write_text('[devdb]\nhost = "tunnel.local"\n')
    assert load_settings(remote, project_root=tmp_path).host == "tunnel.local"
