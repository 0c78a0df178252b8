"""A branch switch: the dev database holds revisions this branch's files do not.

After ``git checkout other-branch`` the dev database may sit at ``002`` applied from
my branch's ``002_add_exchange.py`` while this branch's ``002`` is a teammate's
``002_add_trades.py``. Alembic compares ids only and says "at head". The journal
(devdb.schema.journal) knows which file each revision came from, so:

- ``foreign_revisions_in`` names every applied revision whose file here differs or
  is missing, and ``db.up``, ``db.status`` and ``db.upgrade`` say so;
- ``move_to_this_branch`` undoes them, newest first, with their own recorded
  downgrade() (the files they were applied from), asking first when rows would
  go; ``db.upgrade`` then applies this branch's revisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.safety import guard_downgrade
from devdb.schema import migrations
from devdb.schema.collisions import RevisionFile, check_revision_files
from devdb.schema.journal import (
    Applied,
    Foreign,
    foreign_revisions,
    read_journal,
    recorded_chain,
    recorded_parent,
)
from devdb.team.scratch import scratch_project

if TYPE_CHECKING:
    from devdb.settings import Settings

SWITCH_TIP = (
    "`invoke db.upgrade` moves it to this branch's head: it undoes those revisions "
    "from the files they were applied from (asking first when rows would go), then "
    "applies this branch's"
)


def journal_of(settings: Settings) -> dict[str, Applied]:
    with connect(settings) as connection:
        return read_journal(connection)


def foreign_revisions_in(settings: Settings) -> list[Foreign]:
    """The dev database's revisions applied from files this branch does not have."""
    if settings.exact_target:
        return []  # only the dev database keeps a journal
    files = check_revision_files(settings.script_location / "versions")
    return foreign_revisions(journal_of(settings), files)


def foreign_error(foreign: list[Foreign]) -> DevDbError:
    """One ERROR naming what differs, one TIP saying how to move."""
    return DevDbError(
        "the dev database holds another branch's revisions: "
        + "; ".join(f.describe() for f in foreign),
        SWITCH_TIP,
    )


def refuse_foreign(settings: Settings, doing: str) -> None:
    """Raise when the dev database holds revisions from another branch's files."""
    foreign = foreign_revisions_in(settings)
    if foreign:
        error = foreign_error(foreign)
        raise DevDbError(f"{doing} refused: {error.message}", error.tip)


def scratch_files(
    journal: dict[str, Applied], files: list[RevisionFile]
) -> dict[str, str]:
    """The revisions as the database has them: recorded files, plus this branch's
    files for revisions applied before the journal existed."""
    chosen = {applied.file_name: applied.source for applied in journal.values()}
    for revision_file in files:
        if (
            revision_file.revision not in journal
            and revision_file.path.name not in chosen
        ):
            chosen[revision_file.path.name] = revision_file.path.read_text(
                encoding="utf-8"
            )
    return chosen


def move_to_this_branch(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> list[str]:
    """Undo the revisions applied from other branches' files; what was done.

    Goes down to just below the oldest foreign revision, running each undone
    revision's recorded downgrade(); the guard asks first when rows would go (and
    refuses a non-local database without --force). The caller upgrades after.
    """
    if settings.exact_target:
        return []
    files = check_revision_files(settings.script_location / "versions")
    journal = journal_of(settings)
    foreign = foreign_revisions(journal, files)
    if not foreign:
        return []
    oldest = foreign[0].applied.revision
    below = recorded_parent(journal, oldest) or "base"
    chain = recorded_chain(journal)
    undone = ", ".join(chain[chain.index(oldest) :][::-1])
    with scratch_project(settings, scratch_files(journal, files)) as recorded:
        guard_downgrade(
            recorded,
            below,
            yes=yes,
            force=force,
            action=f"undo {undone} (applied from another branch's files)",
            ask=ask,
        )
        migrations.downgrade(recorded, below)
    return [
        f"Undid {undone} down to {below}: {f.applied.revision} came from "
        f"{f.applied.file_name} (branch {f.applied.branch}), undone with its own "
        "downgrade"
        for f in foreign[:1]
    ]
