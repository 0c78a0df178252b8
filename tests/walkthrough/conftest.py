"""Two people, one `main`: a shared origin and a clone each, with a dev database each.

The origin starts as a copy of this project (its files as they are now, committed
as "released"), so the team's revisions come after whatever revisions the project
holds today; ids are read from the clones' revision files, never written down.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import base_environment, ok, remove_container_and_volume, run_invoke

from devdb.settings import PROJECT_ROOT

NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "*.egg-info", "devdb.local.toml", ".cache",
)  # fmt: skip


def git(
    where: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


@dataclass
class Teammate:
    """One person's clone and the environment their `invoke` runs with."""

    name: str
    clone: Path
    env: dict[str, str]

    def invoke(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_invoke(*args, env=self.env, cwd=self.clone)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return git(self.clone, *args, check=check)

    @property
    def versions(self) -> Path:
        return self.clone / "backend" / "alembic" / "versions"

    def sql(self, statement: str) -> str:
        return ok(self.invoke("db.psql", "-c", statement)).stdout

    def new_revision(self, message: str, body: str) -> Path:
        """`db.revision -m message`, its upgrade()/downgrade() replaced by ``body``."""
        before = set(self.versions.glob("*.py"))
        ok(self.invoke("db.revision", "-m", message))
        [path] = set(self.versions.glob("*.py")) - before
        text = path.read_text()
        path.write_text(text[: text.index("\ndef upgrade()")] + body)
        return path

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def lands_a_revision_on_main(self, message: str, body: str) -> Path:
        """The README's workflow on `main`, then pushed: released for everyone."""
        ok(self.invoke("db.up"))
        path = self.new_revision(message, body)
        ok(self.invoke("db.upgrade"))
        ok(self.invoke("db.dump-schema"))
        ok(self.invoke("db.check"))
        self.commit(message)
        self.git("push", "-q", "origin", "main")
        return path


@pytest.fixture
def team(tmp_path: Path, docker_client) -> Iterator[tuple[Teammate, Teammate]]:
    """A teammate and me, each with a clone of one origin and a dev container."""
    seed = tmp_path / "seed"
    shutil.copytree(PROJECT_ROOT, seed, ignore=NOT_COPIED)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(
        seed,
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@localhost",
        "commit",
        "-q",
        "-m",
        "released",
    )
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    people = []
    suffix = secrets.token_hex(3)
    for name in ("teammate", "me"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        git(clone, "config", "user.name", name)
        git(clone, "config", "user.email", f"{name}@localhost")
        env = base_environment(
            DEVDB_CONTAINER_NAME=f"stock-tracker-db-team-{name}-{suffix}",
            DEVDB_PORT="0",
            PYTHONPATH=str(clone),  # the clone's devdb, not the checkout's install
        )
        people.append(Teammate(name, clone, env))
    yield people[0], people[1]
    for person in people:
        remove_container_and_volume(docker_client, person.env["DEVDB_CONTAINER_NAME"])
