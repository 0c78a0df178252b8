"""Renumbering unreleased revisions on top of the release branch's head: the plan
and the rewrite of each file, without touching anything else.

Only four lines of a revision file say where it stands: the docstring's
``Revision ID:`` and ``Revises:`` and the ``revision`` / ``down_revision``
literals. A renumbered file differs from the original in those lines (and its
name) only; ``body_of`` is the rest, and the rewrite proves it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devdb.errors import DevDbError
from devdb.files import shown
from devdb.schema.collisions import RevisionFile, parse_revision_file

HEADER_ID = re.compile(r"^(Revision ID:[ \t]*)(\S+)[ \t]*$", re.M)
HEADER_REVISES = re.compile(r"^(Revises:[ \t]*)(.*?)[ \t]*$", re.M)
REVISION_LITERAL = re.compile(
    r"^(revision[ \t]*(?::[^=\n]*)?=[ \t]*)(.+?)[ \t]*$", re.M
)
DOWN_LITERAL = re.compile(
    r"^(down_revision[ \t]*(?::[^=\n]*)?=[ \t]*)(.+?)[ \t]*$", re.M
)
WHERE_IT_STANDS = (HEADER_ID, HEADER_REVISES, REVISION_LITERAL, DOWN_LITERAL)


def body_of(source: str) -> str:
    """The file without the four lines that say where it stands."""
    for pattern in WHERE_IT_STANDS:
        source = pattern.sub(r"\1", source)
    return source.replace("\r\n", "\n")


@dataclass(frozen=True)
class Move:
    """One unreleased revision, from where it stands to where it goes."""

    old: RevisionFile
    new_id: str
    new_down: str
    new_path: Path

    def describe(self) -> str:
        old_down = ", ".join(self.old.down_revisions) or "base"
        return (
            f"{self.old.path.name} -> {self.new_path.name}: revision "
            f"{self.old.revision} -> {self.new_id}, builds on {old_down} -> {self.new_down}"
        )


def quote_like(original: str, value: str) -> str:
    """``value`` as a Python string literal in the quotes ``original`` used."""
    quote = "'" if original.strip().startswith("'") else '"'
    return f"{quote}{value}{quote}"


def rewritten(source: str, move: Move) -> str:
    """The file's text standing where ``move`` puts it; its body byte-identical."""
    new = HEADER_ID.sub(lambda m: m[1] + move.new_id, source, count=1)
    new = HEADER_REVISES.sub(lambda m: m[1] + move.new_down, new, count=1)
    new, revisions = REVISION_LITERAL.subn(
        lambda m: m[1] + quote_like(m[2], move.new_id), new, count=1
    )
    new, downs = DOWN_LITERAL.subn(
        lambda m: m[1] + quote_like(m[2], move.new_down), new, count=1
    )
    if not (revisions and downs):
        raise DevDbError(
            f"{shown(move.old.path)} has no `revision = ...` / `down_revision = ...` "
            "line of its own to rewrite",
            "give it the template's literal lines (`invoke db.revision` writes them), "
            "then run `invoke db.rebase` again",
        )
    parsed = parse_revision_file(move.new_path, new)
    if parsed.revision != move.new_id or parsed.down_revisions != (move.new_down,):
        raise DevDbError(
            f"rewriting {shown(move.old.path)} did not give revision {move.new_id} "
            f"on {move.new_down}",
            "renumber it by hand (its four header lines), then `invoke db.dump-schema`",
        )
    if body_of(new) != body_of(source):
        raise DevDbError(
            f"rewriting {shown(move.old.path)} would change more than where it stands",
            "renumber it by hand (its four header lines), then `invoke db.dump-schema`",
        )
    return new


def renamed(path: Path, old_id: str, new_id: str) -> Path:
    """``002_add_trades.py`` -> ``003_add_trades.py``; a name without the id gains it."""
    prefix = f"{old_id}_"
    stem = path.name[len(prefix) :] if path.name.startswith(prefix) else path.name
    return path.with_name(f"{new_id}_{stem}")


def plan_moves(
    mine: list[RevisionFile],
    released_ids: set[str],
    head: str,
    parents: dict[Path, str] | None = None,
) -> list[Move]:
    """New ids after the highest released one, in the order mine build on each other.

    ``parents`` gives a file's real parent where its ``down_revision`` is stale
    (in the middle of a ``git rebase``, a later commit still names the id an
    earlier one had before it was renumbered). Empty when mine already sit on
    ``head`` with ids above every released one.
    """
    if not mine:
        return []
    parents = parents or {}

    def parent_of(revision_file: RevisionFile) -> str | None:
        if revision_file.path in parents:
            return parents[revision_file.path]
        downs = revision_file.down_revisions
        return downs[0] if len(downs) == 1 else None

    if any(len(f.down_revisions) > 1 for f in mine):
        raise DevDbError(
            "a merge revision is among your unreleased ones: "
            + ", ".join(f.name for f in mine if len(f.down_revisions) > 1),
            "remove it (db.rebase replaces merge revisions), then `invoke db.rebase`",
        )
    ids = {f.revision for f in mine}
    lowest = [f for f in mine if parent_of(f) not in ids]
    chain: list[RevisionFile] = []
    current: RevisionFile | None = lowest[0] if len(lowest) == 1 else None
    while current is not None:
        chain.append(current)
        children = [
            f for f in mine if f not in chain and parent_of(f) == current.revision
        ]
        current = children[0] if len(children) == 1 else None
    if len(chain) != len(mine):
        raise DevDbError(
            "your unreleased revisions are not one line ("
            + ", ".join(f"{f.name} on {parent_of(f) or 'base'}" for f in mine)
            + ")",
            "make each build on the one before it (down_revision), then "
            "`invoke db.rebase`",
        )
    numbers = [*released_ids, *ids]
    if not all(n.isdigit() for n in numbers):
        raise DevDbError(
            "db.rebase renumbers sequential ids (001, 002, ...), and these are not: "
            + ", ".join(sorted(numbers)),
            "rebase by hand: set your first revision's down_revision to "
            f"{head}, then `invoke db.dump-schema`",
        )
    width = max(len(n) for n in numbers)
    top = max((int(n) for n in released_ids), default=0)
    moves = []
    below = head
    for offset, revision_file in enumerate(chain, start=1):
        new_id = str(top + offset).zfill(width)
        if revision_file.revision != new_id or revision_file.down_revisions != (below,):
            moves.append(
                Move(
                    revision_file,
                    new_id,
                    below,
                    renamed(revision_file.path, revision_file.revision, new_id),
                )
            )
        below = new_id
    return moves
