"""Renumbering unreleased revisions: the plan, and rewrites that touch only ids.

The ids (001, 002, ...) are made-up inputs in temporary folders, not the
project's revisions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.schema.collisions import parse_revision_file, read_revision_files
from devdb.schema.journal import Applied, source_digest
from devdb.settings import PROJECT_ROOT
from devdb.team.carry import plan_carry
from devdb.team.renumber import Move, body_of, plan_moves, renamed, rewritten

TEMPLATE = '''"""{doc}

Revision ID: {revision}
Revises: {down}
Create Date: 2026-01-01
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers
revision: str = {revision_literal}
down_revision: Union[str, None] = {down_literal}


def upgrade() -> None:
    op.execute("{doc} up")


def downgrade() -> None:
    op.execute("{doc} down")
'''


def source(revision: str, down: str | None, doc: str) -> str:
    return TEMPLATE.format(
        doc=doc,
        revision=revision,
        down=down,
        revision_literal=repr(revision),
        down_literal=repr(down),
    )


def write(folder: Path, name: str, revision: str, down: str | None) -> Path:
    path = folder / f"{name}.py"
    path.write_text(source(revision, down, name))
    return path


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    folder = tmp_path / "versions"
    folder.mkdir()
    write(folder, "001_first", "001", None)
    return folder


def files_named(versions: Path, *names: str):
    return [f for f in read_revision_files(versions) if f.path.stem in names]


def test_mine_on_a_teammates_id_becomes_the_next_id(versions: Path) -> None:
    write(versions, "002_theirs", "002", "001")
    write(versions, "002_mine", "002", "001")
    [move] = plan_moves(files_named(versions, "002_mine"), {"001", "002"}, "002")
    assert (move.new_id, move.new_down, move.new_path.name) == (
        "003",
        "002",
        "003_mine.py",
    )


def test_a_chain_of_mine_keeps_its_order(versions: Path) -> None:
    write(versions, "002_theirs", "002", "001")
    write(versions, "003_theirs", "003", "002")
    write(versions, "002_mine", "002", "001")
    write(versions, "003_mine_too", "003", "002")
    # In my tree 003_mine_too builds on my 002: resolve it as git would show it.
    mine = files_named(versions, "002_mine", "003_mine_too")
    parents = {versions / "003_mine_too.py": "002"}
    moves = plan_moves(mine, {"001", "002", "003"}, "003", parents)
    assert [(m.old.path.name, m.new_id, m.new_down) for m in moves] == [
        ("002_mine.py", "004", "003"),
        ("003_mine_too.py", "005", "004"),
    ]


def test_mine_already_on_head_needs_no_move(versions: Path) -> None:
    write(versions, "002_theirs", "002", "001")
    write(versions, "003_mine", "003", "002")
    assert plan_moves(files_named(versions, "003_mine"), {"001", "002"}, "002") == []


def test_two_lines_of_mine_are_refused(versions: Path) -> None:
    write(versions, "002_a", "002", "001")
    write(versions, "003_b", "003", "001")
    with pytest.raises(DevDbError, match="not one line"):
        plan_moves(files_named(versions, "002_a", "003_b"), {"001"}, "001")


def test_ids_that_are_not_numbers_are_refused(versions: Path) -> None:
    write(versions, "ab12_mine", "ab12", "001")
    with pytest.raises(DevDbError, match="sequential ids"):
        plan_moves(files_named(versions, "ab12_mine"), {"001"}, "001")


def test_the_rewrite_changes_the_four_id_lines_and_nothing_else(versions: Path) -> None:
    path = write(versions, "002_mine", "002", "001")
    old = path.read_text()
    move = Move(parse_revision_file(path), "003", "002", renamed(path, "002", "003"))
    new = rewritten(old, move)
    changed = [
        (a, b)
        for a, b in zip(old.splitlines(), new.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [
        ("Revision ID: 002", "Revision ID: 003"),
        ("Revises: 001", "Revises: 002"),
        ("revision: str = '002'", "revision: str = '003'"),
        (
            "down_revision: Union[str, None] = '001'",
            "down_revision: Union[str, None] = '002'",
        ),
    ]
    assert body_of(new) == body_of(old)
    assert parse_revision_file(move.new_path, new).revision == "003"


def test_the_projects_own_template_is_rewritable(tmp_path: Path) -> None:
    """A file as `db.revision` writes it: what db.rebase meets in real life."""
    template = (PROJECT_ROOT / "backend/alembic/script.py.mako").read_text()
    text = (
        template.replace("${message}", "add things")
        .replace("${up_revision}", "002")
        .replace("${down_revision | comma,n}", "001")
        .replace("${create_date}", "2026-01-01")
        .replace("${repr(up_revision)}", "'002'")
        .replace("${repr(down_revision)}", "'001'")
        .replace("${repr(branch_labels)}", "None")
        .replace("${repr(depends_on)}", "None")
        .replace('${upgrades if upgrades else "pass"}', "pass")
        .replace('${downgrades if downgrades else "pass"}', "pass")
    )
    path = tmp_path / "002_add_things.py"
    path.write_text(text)
    move = Move(parse_revision_file(path), "007", "006", renamed(path, "002", "007"))
    assert parse_revision_file(move.new_path, rewritten(text, move)).down_revisions == (
        "006",
    )


def test_a_file_without_its_own_literals_is_refused(versions: Path) -> None:
    path = versions / "002_odd.py"
    path.write_text('revision, down_revision = "002", "001"\n')
    fake = parse_revision_file(versions / "001_first.py")
    move = Move(fake, "003", "002", versions / "003_odd.py")
    with pytest.raises(DevDbError, match=r"no `revision = \.\.\.`"):
        rewritten(path.read_text(), move)


def test_names_keep_their_slug() -> None:
    assert (
        renamed(Path("v/002_add_trades.py"), "002", "003").name == "003_add_trades.py"
    )
    assert renamed(Path("v/add_trades.py"), "002", "003").name == "003_add_trades.py"


# --- the dev database's carry: which journal becomes which history ------------------


def applied(
    path: Path, revision: str | None = None, text: str | None = None
) -> Applied:
    text = text if text is not None else path.read_text()
    return Applied(
        revision or parse_revision_file(path).revision,
        path.name,
        source_digest(text),
        text,
        "feature",
        datetime(2026, 1, 1, tzinfo=UTC),
        False,
    )


def test_a_renumbered_revision_is_carried_with_the_teammates_under_it(
    versions: Path,
) -> None:
    first = versions / "001_first.py"
    mine_before = source("002", "001", "002_mine")
    journal = {
        "001": applied(first),
        "002": applied(versions / "002_mine.py", "002", mine_before),
    }
    write(versions, "002_theirs", "002", "001")
    mine_now = versions / "003_mine.py"
    move = Move(parse_revision_file(versions / "001_first.py"), "003", "002", mine_now)
    mine_now.write_text(rewritten(mine_before, move))
    plan = plan_carry(journal, read_revision_files(versions))
    assert plan is not None
    assert plan.base == "001"
    assert [f.revision for f in plan.under] == ["002"]
    assert [(a.revision, f.revision) for a, f in plan.carried] == [("002", "003")]


def test_a_branch_switch_is_no_carry(versions: Path) -> None:
    # The applied 002 is no renumbering of anything here: undo it instead.
    journal = {
        "001": applied(versions / "001_first.py"),
        "002": applied(versions / "002_other.py", "002", source("002", "001", "other")),
    }
    write(versions, "002_theirs", "002", "001")
    assert plan_carry(journal, read_revision_files(versions)) is None


def test_a_journal_matching_the_tree_needs_no_carry(versions: Path) -> None:
    path = write(versions, "002_theirs", "002", "001")
    journal = {"001": applied(versions / "001_first.py"), "002": applied(path)}
    assert plan_carry(journal, read_revision_files(versions)) is None
