"""Revisions that collide, named before anything runs.

A team adds revisions on parallel branches, so two ``002`` files meet in a merge.
Alembic only warns when two files share an id ("Revision 002 is present more than
once") and lets the later one silently replace the other; with two heads it
refuses with its own words, and a revision built on a missing one ends in a
``KeyError``. This reads the files' own ``revision`` / ``down_revision`` literals
(as ``script.py.mako`` writes them), so it sees every file, including the one
Alembic would drop, and says what collides and which task fixes it:

- two files with one id;
- more than one head;
- a revision whose ``down_revision`` no file defines.

Used by ``db.check``, ``db.upgrade``, ``db.status``, ``db.up`` and, through env.py,
the plain ``alembic`` CLI: nothing is applied while revisions collide.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from devdb.errors import DevDbError, Problem
from devdb.files import shown

REBASE_TIP = (
    "renumber your unreleased revisions on top of the others: `invoke db.rebase` "
    "(`--dry-run` shows the plan)"
)


@dataclass(frozen=True)
class RevisionFile:
    """One revision file as its literals say, read without importing it."""

    path: Path
    revision: str
    down_revisions: tuple[str, ...]

    @property
    def name(self) -> str:
        return shown(self.path)


def literal_assignments(source: str, names: set[str]) -> dict[str, object]:
    """The module-level ``name = <literal>`` assignments among ``names``."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found


def parse_revision_file(path: Path, source: str | None = None) -> RevisionFile:
    """The file's ``revision`` and ``down_revision``, or a DevDbError naming it."""
    try:
        text = path.read_text(encoding="utf-8") if source is None else source
        found = literal_assignments(text, {"revision", "down_revision"})
    except SyntaxError as error:
        raise DevDbError(
            f"the revision file {shown(path)} cannot be read: SyntaxError on line "
            f"{error.lineno}: {error.msg}",
            "fix that file (or move it away), then run again",
        ) from None
    except (ValueError, OSError) as error:
        raise DevDbError(
            f"the revision file {shown(path)} cannot be read: "
            f"{type(error).__name__}: {error}",
            "fix that file (or move it away), then run again",
        ) from None
    revision, down = found.get("revision"), found.get("down_revision")
    if not isinstance(revision, str) or not revision:
        raise DevDbError(
            f'the revision file {shown(path)} assigns no `revision = "..."`',
            "write revisions with `invoke db.revision -m ...` (its template sets it)",
        )
    if down is None:
        downs: tuple[str, ...] = ()
    elif isinstance(down, str):
        downs = (down,)
    elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        downs = tuple(down)
    else:
        raise DevDbError(
            f"the revision file {shown(path)} has a down_revision that is not a "
            "revision id",
            "set `down_revision` to the id it builds on (None for the first)",
        )
    return RevisionFile(path, revision, downs)


def read_revision_files(versions_dir: Path) -> list[RevisionFile]:
    """Every revision file of ``versions_dir``, in file-name order."""
    return [
        parse_revision_file(path)
        for path in sorted(versions_dir.glob("*.py"))
        if not path.name.startswith("__")
    ]


def collision_problems(files: list[RevisionFile]) -> list[Problem]:
    """Every way the revision files collide, most fundamental first."""
    problems: list[Problem] = []
    by_id: dict[str, list[RevisionFile]] = defaultdict(list)
    for revision_file in files:
        by_id[revision_file.revision].append(revision_file)
    for revision, defining in sorted(by_id.items()):
        if len(defining) > 1:
            problems.append(
                Problem(
                    f"revision {revision} is defined by {len(defining)} files: "
                    + " and ".join(f.name for f in defining)
                    + " (Alembic would silently use only one)",
                    REBASE_TIP,
                )
            )
    for revision_file in files:
        for parent in revision_file.down_revisions:
            if parent not in by_id:
                problems.append(
                    Problem(
                        f"{revision_file.name} builds on revision {parent!r}, which "
                        "no file defines",
                        f"fix its down_revision; or, if {parent} was renumbered by "
                        f"a rebase, {REBASE_TIP}",
                    )
                )
    if problems:
        return problems  # heads are meaningless until each id is one file
    parents = {parent for f in files for parent in f.down_revisions}
    heads = [f for f in files if f.revision not in parents]
    if len(heads) > 1:
        problems.append(
            Problem(
                f"the revisions have {len(heads)} heads: "
                + ", ".join(f"{f.revision} ({f.name})" for f in heads)
                + "; there must be exactly one",
                REBASE_TIP,
            )
        )
    return problems


def check_revision_files(versions_dir: Path) -> list[RevisionFile]:
    """The revision files, or a DevDbError for the first collision among them."""
    files = read_revision_files(versions_dir)
    problems = collision_problems(files)
    if problems:
        first = problems[0]
        more = len(problems) - 1
        raise DevDbError(
            first.message
            + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""),
            first.tip,
        )
    return files


def linear_chain(files: list[RevisionFile]) -> list[RevisionFile]:
    """The files from the first revision to head, for a history without collisions.

    Raises DevDbError for a history that is not one line (a merge revision).
    """
    by_parent: dict[str | None, list[RevisionFile]] = defaultdict(list)
    for revision_file in files:
        if len(revision_file.down_revisions) > 1:
            raise DevDbError(
                f"{revision_file.name} merges {len(revision_file.down_revisions)} "
                "revisions; this needs a linear history",
                "replace the merge revision by renumbering: `invoke db.rebase`",
            )
        below = (
            revision_file.down_revisions[0] if revision_file.down_revisions else None
        )
        by_parent[below].append(revision_file)
    chain: list[RevisionFile] = []
    parent: str | None = None
    while by_parent.get(parent):
        child = by_parent[parent][0]
        chain.append(child)
        parent = child.revision
    return chain
