"""The smaller promises, each on real parts: db.backout asks and compares with the
fetched release branch, the plain alembic CLI takes every URL the tasks take, and a
database name with a space reaches every command whole."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    assert_clean_failure,
    base_environment,
    copy_project,
    head_revisions,
    ok,
    remove_container_and_volume,
    revision_source,
    run_invoke,
)

from devdb.settings import PROJECT_ROOT, Settings

[HEAD] = head_revisions()


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project in a repository of its own, released on main, with a
    remote whose main is ahead (a teammate released more since the last fetch)."""
    project = tmp_path / "project"
    copy_project(project)
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(
        project,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "released",
    )
    origin = tmp_path / "origin.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(project), str(origin)], check=True
    )
    git(project, "remote", "add", "origin", str(origin))
    git(project, "fetch", "-q", "origin")
    return project


def add_unreleased(project: Path) -> Path:
    path = project / "backend" / "alembic" / "versions" / "selftest_unreleased.py"
    path.write_text(
        revision_source(
            "selftest_unreleased",
            HEAD,
            doc="Self-test: an unreleased revision.",
            upgrade=["CREATE TABLE selftest_unreleased (id int)"],
            downgrade=["DROP TABLE selftest_unreleased"],
        )
    )
    return path


def test_backout_asks_before_deleting_a_file_whatever_the_database(
    project: Path,
) -> None:
    path = add_unreleased(project)
    # No dev container at all: the database cannot be asked about, the file is.
    env = base_environment(
        PYTHONPATH=str(project), DEVDB_CONTAINER_NAME=f"none-{secrets.token_hex(4)}"
    )
    output = assert_clean_failure(
        run_invoke("db.backout", env=env, cwd=project), "without confirmation"
    )
    assert "selftest_unreleased.py" in output and "origin/main" in output
    assert path.exists()


def test_backout_compares_with_the_fetched_release_branch(
    project: Path, tmp_path: Path
) -> None:
    path = add_unreleased(project)
    # A teammate released the same file on the remote; the local main is stale.
    teammate = tmp_path / "teammate"
    subprocess.run(
        ["git", "clone", "-q", str(tmp_path / "origin.git"), str(teammate)], check=True
    )
    shutil.copy(path, teammate / path.relative_to(project))
    git(teammate, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(teammate, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    git(teammate, "push", "-q", "origin", "main")
    assert "selftest_unreleased" not in git(project, "ls-tree", "-r", "main")
    env = base_environment(PYTHONPATH=str(project))
    output = assert_clean_failure(
        run_invoke("db.backout", "--yes", env=env, cwd=project), "is released"
    )
    assert "origin/main" in output
    assert path.exists()


def alembic_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "current"],
        cwd=PROJECT_ROOT / "backend",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_alembic_cli_takes_an_asyncpg_url(fresh_database) -> None:
    settings: Settings = fresh_database.settings
    base = (
        f"postgresql+asyncpg://{settings.user}:{settings.password}@{settings.host}:"
        f"{settings.port}/{settings.database}"
    )
    # ssl=require: libpq asks for TLS and the test server has none; a clean
    # refusal, no traceback, no password.
    required = alembic_cli(base_environment(DATABASE_URL=f"{base}?ssl=require"))
    output = required.stdout + required.stderr
    assert required.returncode != 0
    assert "SSL" in output and "Traceback" not in output, output
    assert settings.password not in output
    plain = alembic_cli(base_environment(DATABASE_URL=f"{base}?ssl=false"))
    assert plain.returncode == 0, plain.stdout + plain.stderr


@pytest.fixture(scope="module")
def spaced_env(docker_client) -> Iterator[dict[str, str]]:
    name = f"spaced-{secrets.token_hex(4)}"
    env = base_environment(
        DEVDB_CONTAINER_NAME=name, DEVDB_PORT="0", DEVDB_DATABASE="market data's"
    )
    try:
        ok(run_invoke("db.up", env=env))
        yield env
    finally:
        remove_container_and_volume(docker_client, name)


def test_a_database_name_with_a_space_reaches_every_command(spaced_env) -> None:
    updated = ok(run_invoke("db.update-extension", env=spaced_env)).stderr
    assert "market data's: timescaledb" in updated, updated
    shown = ok(run_invoke("db.psql", "-c", "SELECT current_database()", env=spaced_env))
    assert "market data's" in shown.stdout
    ok(run_invoke("db.reset", "--yes", "--no-migrate", env=spaced_env))
