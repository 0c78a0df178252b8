"""`db.rebase`: my unreleased revisions renumbered on top of the release branch.

After ``git merge origin/main`` (or in the middle of ``git rebase origin/main``),
a teammate's released ``002`` and my unreleased ``002`` meet. Alembic's answer is a
merge revision, and a rebase command was declined upstream (sqlalchemy/alembic#744);
renaming files alone (as some tools do) leaves every derived file stale. Here:

1. mine (revision files on no release ref) become the next ids after the highest
   released one, in the order they build on each other: name, header and literals
   rewritten, bodies proved byte-identical (devdb.team.renumber);
2. the new history is replayed on a throwaway database of the reference image
   before anything in the checkout changes: it must reach head, and each of mine
   must round-trip; ``db/schema.sql`` is that database's dump, never the dev
   database's;
3. ``db/alembic.sum`` (released lines exactly as the release branch has them) and
   the generated init SQL are regenerated; during a merge or rebase, exactly what
   changed is staged;
4. the dev database, when it holds mine, is carried across with its rows
   (devdb.team.carry).

A released revision is never rewritten, and a conflict in anything not generated
is refused. Run again, it finds nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from devdb.console import note
from devdb.containers.dev import dev_database
from devdb.database import connect
from devdb.errors import DevDbError
from devdb.files import shown, write_if_changed
from devdb.schema.checksums import SumEntry, file_digest, format_sum, parse_sum
from devdb.schema.collisions import (
    RevisionFile,
    linear_chain,
    read_revision_files,
)
from devdb.schema.init_sql import write_init_sql
from devdb.schema.journal import Applied, read_journal
from devdb.schema.released import (
    ReleaseState,
    git,
    release_state,
    unreleased_files,
)
from devdb.settings import PROJECT_ROOT
from devdb.team.carry import carry, plan_carry
from devdb.team.renumber import Move, plan_moves, rewritten
from devdb.team.replay import Replay, replay
from devdb.team.scratch import scratch_project
from devdb.team.worktree import (
    in_progress,
    refuse_hand_conflicts,
    stage,
    stale_parents,
)

if TYPE_CHECKING:
    from docker.models.containers import Container

    from devdb.settings import Settings


def relative(path: Path, root: Path) -> PurePosixPath:
    return PurePosixPath(path.resolve().relative_to(root.resolve()).as_posix())


def refuse_released_changes(
    files: list[RevisionFile], state: ReleaseState, root: Path
) -> None:
    """A released revision is never rewritten, and every one must be in the tree."""
    here = {relative(f.path, root): f for f in files}
    for released in state.files:
        mine = here.get(released.path)
        if mine is None:
            raise DevDbError(
                f"{released.ref}'s revision {released.revision.revision} "
                f"({released.path.name}) is not in this checkout",
                f"merge it first: `git merge {released.ref}` (or `git rebase "
                f"{released.ref}`), then `invoke db.rebase`",
            )
        if mine.path.read_text(encoding="utf-8").replace("\r\n", "\n") != (
            released.source.replace("\r\n", "\n")
        ):
            raise DevDbError(
                f"released revision {released.revision.revision} ({mine.name}) "
                f"differs from {released.ref}'s: db.rebase never rewrites a released "
                "revision",
                f"restore it (`git checkout {released.ref} -- {released.path}`); "
                "a change to it belongs in a new revision",
            )


def new_tree(files: list[RevisionFile], moves: list[Move]) -> dict[str, str]:
    """The versions folder after the moves: file name -> source."""
    moved = {move.old.path: move for move in moves}
    tree: dict[str, str] = {}
    for revision_file in files:
        source = revision_file.path.read_text(encoding="utf-8")
        move = moved.get(revision_file.path)
        if move is None:
            tree[revision_file.path.name] = source
        else:
            tree[move.new_path.name] = rewritten(source, move)
    return tree


def regenerated_sum(
    settings: Settings, state: ReleaseState, tree: list[RevisionFile]
) -> str:
    """Released lines exactly as the release branch lists them; mine recomputed."""
    listed = git(
        settings.project_root, "show", f"{state.head_ref}:db/alembic.sum", check=False
    )
    released = {entry.revision: entry for entry in parse_sum(listed)} if listed else {}
    ids = state.released_ids()
    root = settings.script_location.resolve()
    entries = [
        released.get(f.revision)
        if f.revision in ids and f.revision in released
        else SumEntry(
            f.revision,
            file_digest(f.path),
            f.path.resolve().relative_to(root).as_posix(),
        )
        for f in tree
    ]
    return format_sum(e for e in entries if e is not None)


def dev_journal(
    settings: Settings,
) -> tuple[Container, Settings, dict[str, Applied]] | None:
    """The dev database and its journal, or None when there is none to carry."""
    if settings.exact_target:
        return None
    try:
        container, aimed = dev_database(settings)
        with connect(aimed) as connection:
            return container, aimed, read_journal(connection)
    except DevDbError as error:
        note(f"Dev database left alone: {error.message}")
        return None


def rebase(
    settings: Settings,
    *,
    against: str = "",
    dry_run: bool = False,
    yes: bool = False,
    force: bool = False,
    ask: Callable[[str], bool] | None = None,
) -> list[str]:
    """Renumber mine onto the release branch's head; what was done, for people."""
    started = time.monotonic()
    root = settings.project_root
    versions = settings.script_location / "versions"
    conflicted = refuse_hand_conflicts(root)
    state = release_state(root, against or settings.release_branch, versions)
    if state.head is None:
        raise DevDbError(
            f"there is no '{against or settings.release_branch}' branch (nor an "
            "upstream of it) with revisions to rebase on",
            "name the branch your revisions go on: `invoke db.rebase --against BRANCH`",
        )
    files = read_revision_files(versions)
    refuse_released_changes(files, state, root)
    mine = unreleased_files(files, state, root)
    moves = plan_moves(
        mine, state.released_ids(), state.head, stale_parents(root, mine, files)
    )
    plan = [f"Rebasing on {state.head_ref}'s head {state.head}"] + [
        f"  {move.describe()}" for move in moves
    ]
    dev = dev_journal(settings)
    if dry_run:
        tree = new_tree(files, moves)
        return [*plan, *dry_run_lines(settings, moves, conflicted, tree, dev)]
    if not moves and not conflicted:
        done = [
            f"Nothing to renumber: {', '.join(f.revision for f in mine) or 'no revision'} "
            f"of yours, on {state.head_ref}'s head {state.head}"
        ]
        return done + carry_dev(settings, dev, None, yes=yes, force=force, ask=ask)
    tree = new_tree(files, moves)
    journal = dev[2] if dev else {}
    replayed = replay(settings, tree, len(mine), journal)
    changed = write_tree(settings, files, moves, tree)
    done = [
        *plan,
        *(
            f"Renamed {shown(m.old.path)} -> {m.new_path.name} (only its id lines "
            "changed; the body is byte-identical)"
            for m in moves
        ),
    ]
    after = linear_chain(read_revision_files(versions))
    if write_if_changed(
        settings.migrations_sum_file, regenerated_sum(settings, state, after)
    ):
        changed.append(settings.migrations_sum_file)
        done.append(f"Regenerated {shown(settings.migrations_sum_file)}")
    # write_init_sql says "wrote <path>" / "removed <path>", as files.shown names it.
    for line in write_init_sql(settings):
        changed.append(PROJECT_ROOT / line.split(" ", 1)[1])
        done.append(f"Init SQL: {line}")
    if write_if_changed(settings.schema_file, replayed.schema):
        changed.append(settings.schema_file)
        done.append(f"Regenerated {shown(settings.schema_file)}")
    operation = in_progress(root)
    if operation:
        stage(root, changed + [root / str(path) for path in conflicted])
        done.append(
            f"Staged exactly those files; finish with `git {operation} --continue`"
            if operation != "merge"
            else "Staged exactly those files; finish the merge with `git commit`"
        )
    done.append(
        "Proved by replay on a throwaway database: the new history reaches head, "
        "each of your revisions round-trips, db/schema.sql is its dump"
    )
    done += carry_dev(settings, dev, replayed, yes=yes, force=force, ask=ask)
    done.append(f"db.rebase took {time.monotonic() - started:.1f} s")
    return done


def write_tree(
    settings: Settings,
    files: list[RevisionFile],
    moves: list[Move],
    tree: dict[str, str],
) -> list[Path]:
    """Renamed revision files written, the old ones removed; the paths changed."""
    versions = settings.script_location / "versions"
    changed: list[Path] = []
    for move in moves:
        move.old.path.unlink()
        changed.append(move.old.path)
    for move in moves:
        move.new_path.write_text(tree[move.new_path.name], encoding="utf-8")
        changed.append(move.new_path)
    assert {p.name for p in versions.glob("*.py")} >= set(tree), "every file written"
    return changed


def carry_dev(
    settings: Settings,
    dev: tuple[Container, Settings, dict[str, Applied]] | None,
    replayed: Replay | None,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None,
) -> list[str]:
    """Carry the dev database across when it holds my revisions as applied before."""
    if dev is None:
        return []
    container, aimed, journal = dev
    plan = plan_carry(journal, read_revision_files(aimed.script_location / "versions"))
    if plan is None:
        return []
    if replayed is None:
        # Only the dev database still holds the old numbers: try the carry anyway.
        tree = {
            f.path.name: f.path.read_text(encoding="utf-8")
            for f in read_revision_files(aimed.script_location / "versions")
        }
        replayed = replay(settings, tree, 0, journal)
    try:
        return carry(
            aimed,
            plan,
            order_matters=replayed.carry_diff,
            clean_dump=replayed.carry_clean,
            dev_container=container,
            yes=yes,
            force=force,
            ask=ask,
        )
    except DevDbError as error:
        raise DevDbError(
            f"the revisions are renumbered, but the dev database was not moved: "
            f"{error.message}",
            f"{error.tip}; or later: `invoke db.upgrade` moves it (asking first)",
        ) from None


def dry_run_lines(
    settings: Settings,
    moves: list[Move],
    conflicted: list[PurePosixPath],
    tree: dict[str, str],
    dev: tuple[Container, Settings, dict[str, Applied]] | None,
) -> list[str]:
    lines = []
    if not moves and not conflicted:
        lines.append("Nothing to renumber")
    if moves or conflicted:
        lines.append(
            "Would regenerate db/alembic.sum, the init SQL in db/migrations/ and "
            "db/schema.sql from a replay on a throwaway database"
        )
    for path in conflicted:
        lines.append(f"Would resolve the conflict in {path} by regenerating it")
    if dev is not None:
        _, aimed, journal = dev
        with scratch_project(replace(aimed), tree) as after:
            plan = plan_carry(
                journal, read_revision_files(after.script_location / "versions")
            )
        lines.append(
            f"Dev database: would {plan.describe()} (tried on a throwaway first)"
            if plan
            else "Dev database: nothing of yours to carry"
        )
    lines.append("Dry run: nothing was changed")
    return lines
