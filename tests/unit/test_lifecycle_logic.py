"""Pure parts of lifecycle and doctor: revision ids, heads, psql argv, checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devdb import database, doctor, status, workflow
from devdb.containers import engine as containers
from devdb.containers import shell
from devdb.schema import revisions
from devdb.settings import PROJECT_ROOT, Settings


# The ids below are inputs made up for the numbering rule and for files written
# into tmp_path, not this project's revisions: a new revision changes none of them.
@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "001"),
        (["001"], "002"),
        (["001", "009"], "010"),
        (["0001"], "0002"),
        (["001", "ae1027a6acf"], None),
    ],
)
def test_next_revision_id(existing, expected):
    assert revisions.next_revision_id(existing) == expected


def revision_file(directory: Path, name: str, revision: str, down: str | None) -> None:
    (directory / f"{name}.py").write_text(
        f'revision: str = "{revision}"\ndown_revision: Union[str, None] = {down!r}\n'
    )


def test_quick_heads(tmp_path):
    revision_file(tmp_path, "a", "001", None)
    revision_file(tmp_path, "b", "002", "001")
    assert revisions.quick_heads(tmp_path) == {"002"}
    revision_file(tmp_path, "c", "003", "001")  # a branch: two heads
    assert revisions.quick_heads(tmp_path) == {"002", "003"}
    (tmp_path / "d.py").write_text("revision = make_id()\n")  # not a literal
    assert revisions.quick_heads(tmp_path) is None


def test_quick_heads_agrees_with_alembic():
    settings = Settings(project_root=PROJECT_ROOT)
    versions = settings.script_location / "versions"
    assert revisions.quick_heads(versions) == set(
        revisions.heads(settings.script_location)
    )


@pytest.mark.parametrize(
    ("docker_host", "local"),
    [
        ("", True),
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://localhost:2375", True),
        ("ssh://me@build.example.com", False),
        ("tcp://10.0.0.9:2376", False),
    ],
)
def test_docker_engine_is_local(docker_host, local):
    assert containers.docker_engine_is_local({"DOCKER_HOST": docker_host}) is local


def test_psql_password_travels_in_the_environment_only():
    settings = Settings(password="hunter2")
    argv, environment = shell.psql_invocation(
        settings, "stock-tracker-db", command="SELECT 1", tty=False
    )
    assert not any("hunter2" in part for part in argv)
    assert environment["PGPASSWORD"] == "hunter2"
    assert argv[:3] == ["docker", "exec", "-i"] and "-t" not in argv
    assert argv[3:5] == ["-e", "PGPASSWORD"]
    assert argv[-2:] == ["-c", "SELECT 1"]
    tty_argv, _ = shell.psql_invocation(settings, "x", tty=True)
    assert "-t" in tty_argv and "-c" not in tty_argv


def test_quote_identifier():
    assert database.quote_identifier('we"ird') == '"we""ird"'


def test_status_problems():
    pending = status.Status(url="u", reachable=True, pending=["002"])
    assert pending.problems == ["1 revision(s) pending: 002"]
    assert status.Status(url="u", reachable=True).problems == []
    down = status.Status(url="u", unreachable_reason="the dev container is exited")
    assert "exited" in down.problems[0]


def test_new_revision_writes_a_sequential_file(tmp_path):
    import shutil

    backend = tmp_path / "backend"
    shutil.copytree(PROJECT_ROOT / "backend" / "alembic", backend / "alembic")
    shutil.copy(PROJECT_ROOT / "backend" / "alembic.ini", backend / "alembic.ini")
    settings = replace(Settings(), project_root=tmp_path)
    existing = [info.revision for info in revisions.history(settings.script_location)]
    [head] = revisions.heads(settings.script_location)
    expected = revisions.next_revision_id(existing)
    path = workflow.new_revision(settings, "add trades table")
    assert path.name.startswith(f"{expected}_add_trades_table")
    text = path.read_text()
    assert (
        f"revision: str = '{expected}'" in text
        and f"down_revision: Union[str, None] = '{head}'" in text
    )
    assert revisions.quick_heads(path.parent) == {expected}


def test_python_check():
    assert doctor.python_check((3, 12, 1)).ok
    old = doctor.python_check((3, 10, 9))
    assert not old.ok and old.fix


def test_disk_check_threshold(tmp_path):
    assert doctor.disk_check([tmp_path], minimum=1).ok
    failing = doctor.disk_check([tmp_path], minimum=1 << 62)
    assert not failing.ok and "docker system prune" in failing.fix


def test_port_check_without_docker():
    assert doctor.port_check(Settings(port=0), None).ok
    assert doctor.port_check(Settings(exact_target=True), None).ok
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = doctor.port_check(Settings(port=squatter.getsockname()[1]), None)
    assert not busy.ok and "DEVDB_PORT" in busy.fix
