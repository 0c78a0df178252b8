"""Colliding revision files are named before anything runs; so is a stale base.

The ids here (001, 002, ...) are made-up inputs in a temporary folder, not the
project's revisions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.schema.collisions import (
    check_revision_files,
    collision_problems,
    linear_chain,
    read_revision_files,
)
from devdb.schema.released import release_problems, release_state

REVISION = '''"""{doc}

Revision ID: {revision}
Revises: {down}
Create Date: 2026-01-01
"""
from alembic import op

revision: str = "{revision}"
down_revision: str | None = {down_literal}


def upgrade() -> None:
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 2")
'''


def write(versions: Path, name: str, revision: str, down: str | None) -> Path:
    path = versions / f"{name}.py"
    path.write_text(
        REVISION.format(doc=name, revision=revision, down=down, down_literal=repr(down))
    )
    return path


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    folder = tmp_path / "backend" / "alembic" / "versions"
    folder.mkdir(parents=True)
    write(folder, "001_first", "001", None)
    return folder


def test_a_linear_history_has_no_problem(versions: Path) -> None:
    write(versions, "002_second", "002", "001")
    files = check_revision_files(versions)
    assert [f.revision for f in linear_chain(files)] == ["001", "002"]


def test_two_files_with_one_id_are_named_both(versions: Path) -> None:
    write(versions, "002_add_exchange", "002", "001")
    write(versions, "002_add_trades", "002", "001")
    problems = collision_problems(read_revision_files(versions))
    # One problem: the duplicate id, not also "two heads (002, 002)".
    assert len(problems) == 1
    [problem] = problems
    assert "revision 002 is defined by 2 files" in problem.message
    assert "002_add_exchange.py" in problem.message
    assert "002_add_trades.py" in problem.message
    assert "invoke db.rebase" in problem.tip


def test_two_heads_name_each_head_and_its_file(versions: Path) -> None:
    write(versions, "002_a", "002", "001")
    write(versions, "003_b", "003", "001")
    [problem] = collision_problems(read_revision_files(versions))
    assert "2 heads: 002 (" in problem.message and "003_b.py" in problem.message
    assert "invoke db.rebase" in problem.tip


def test_a_revision_built_on_a_missing_one_is_named(versions: Path) -> None:
    write(versions, "003_orphan", "003", "002")
    with pytest.raises(DevDbError) as raised:
        check_revision_files(versions)
    assert "003_orphan.py builds on revision '002', which no file defines" in (
        raised.value.message
    )


def test_an_unreadable_file_is_named(versions: Path) -> None:
    (versions / "002_broken.py").write_text("revision = (\n")
    with pytest.raises(DevDbError, match=r"002_broken\.py cannot be read"):
        read_revision_files(versions)


def test_a_merge_revision_is_no_line(versions: Path) -> None:
    write(versions, "002_a", "002", "001")
    write(versions, "003_b", "003", "001")
    (versions / "004_merge.py").write_text(
        'revision = "004"\ndown_revision = ("002", "003")\n'
    )
    files = check_revision_files(versions)
    with pytest.raises(DevDbError, match="merges 2 revisions"):
        linear_chain(files)


# --- where the release branch stands -----------------------------------------------


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repository(versions: Path) -> Path:
    root = versions.parents[2]
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.invalid")
    git(root, "config", "user.name", "dev")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "001")
    return root


def test_my_revision_on_the_release_head_is_fine(repository: Path, versions: Path):
    git(repository, "switch", "-q", "-c", "feature")
    write(versions, "002_mine", "002", "001")
    files = read_revision_files(versions)
    assert release_problems(files, repository, "main", versions) == []


def test_my_revision_on_an_old_head_is_named_with_the_branch_to_merge(
    repository: Path, versions: Path
):
    # The teammate's 002 lands on main while my 002 (built on 001) waits on a branch.
    git(repository, "switch", "-q", "-c", "feature")
    git(repository, "switch", "-q", "main")
    write(versions, "002_theirs", "002", "001")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "theirs")
    git(repository, "switch", "-q", "feature")
    write(versions, "002_mine", "002", "001")
    [problem] = release_problems(
        read_revision_files(versions), repository, "main", versions
    )
    assert "unreleased revision 002" in problem.message
    assert "002_mine.py" in problem.message
    assert "not on main's head 002 (002_theirs.py on main)" in problem.message
    assert "git merge main" in problem.tip and "invoke db.rebase" in problem.tip


def test_the_upstream_of_the_release_branch_counts_as_released(
    tmp_path: Path, repository: Path, versions: Path
):
    # A teammate pushed 002 to origin/main; my local main has not moved.
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repository), str(origin))
    git(repository, "remote", "add", "origin", str(origin))
    git(repository, "fetch", "-q", "origin")
    git(repository, "branch", "-q", "--set-upstream-to=origin/main", "main")
    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(origin), str(teammate))
    git(teammate, "config", "user.email", "t@example.invalid")
    git(teammate, "config", "user.name", "t")
    write(teammate / "backend" / "alembic" / "versions", "002_theirs", "002", "001")
    git(teammate, "add", "-A")
    git(teammate, "commit", "-q", "-m", "theirs")
    git(teammate, "push", "-q", "origin", "main")
    git(repository, "fetch", "-q", "origin")

    state = release_state(repository, "main", versions)
    assert state.refs == ("main", "origin/main")
    assert state.head == "002" and state.head_ref == "origin/main"
    assert "002" in state.released_ids()
