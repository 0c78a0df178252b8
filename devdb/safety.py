"""The destructive-operation guard: ask first, and never touch a remote by accident."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from devdb import migrations
from devdb.errors import DevDbError
from devdb.revisions import script_directory

if TYPE_CHECKING:
    from devdb.settings import Settings


def ask_on_terminal(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False  # stdin closed mid-question: that is not a yes
    return answer.strip().lower() in ("y", "yes")


def confirm_destructive(
    settings: Settings,
    action: str,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
    interactive: bool | None = None,
    where: str | None = None,
    local: bool | None = None,
) -> None:
    """Return when ``action`` may go ahead; raise DevDbError when it may not.

    A non-local target needs ``force`` whatever else is said: ``--yes`` is typed out
    of habit, ``--force`` only on purpose. Then ``yes`` skips the question; without
    it we ask, and with no terminal to ask on we refuse rather than hang or guess.
    ``where``/``local`` describe the target when it is not the database itself
    (``db.destroy`` deletes a container on a Docker engine). Nothing here connects.
    """
    where = where or settings.safe_url()
    local = settings.is_local if local is None else local
    if not local and not force:
        raise DevDbError(
            f"refusing to {action} on {where}: it is not a local database",
            "if you really mean that one, run again with --force "
            "(and --yes to skip the question)",
        )
    if yes:
        return
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise DevDbError(
            f"refusing to {action} on {where} without confirmation",
            "run again with --yes to confirm",
        )
    if not (ask or ask_on_terminal)(f"This will {action} on {where}. Continue?"):
        raise DevDbError(
            f"cancelled: nothing was changed ({action} on {where})",
            "run again and answer y, or pass --yes",
        )


RELATIVE_DOWNGRADE = re.compile(r"(?P<anchor>[^+@]*?)-(?P<steps>\d+)")


def lands_on_base(settings: Settings, target: str) -> bool:
    """Whether downgrading to ``target`` would undo every revision.

    Alembic accepts 'base', a revision id, and relative targets: '-2' (from the
    database's revision), '001-1', 'head-1', 'heads-1'. Each relative one is walked
    down the revision files here, so none slips past the guard. Branch ('x@-1') and
    '+N' targets are refused: the guard could not tell where they land.
    """
    if target == "base":
        return True
    if "@" in target or "+" in target:
        raise DevDbError(
            f"db.downgrade does not take the target '{target}'",
            "name a revision id, 'base', or a relative target such as -1 or 001-1",
        )
    relative = RELATIVE_DOWNGRADE.fullmatch(target)
    if relative is None:
        return False  # an absolute revision id: Alembic checks it exists
    script = script_directory(settings.script_location)
    anchor = relative.group("anchor")
    if anchor in ("head", "heads"):
        start: str | None = script.get_current_head()
    elif anchor:
        start = anchor
    else:
        revisions = migrations.current(settings)
        start = revisions[0] if revisions else None
    from alembic.util import CommandError  # lazy: see devdb.revisions

    for _ in range(int(relative.group("steps"))):
        if start is None:
            return True
        try:
            below = script.get_revision(start)
        except CommandError:
            return False  # an unknown anchor: the downgrade itself reports it
        if below is None:
            return True
        # A merge has no single step down: treated as reaching base, so it asks.
        start = below.down_revision if isinstance(below.down_revision, str) else None
    return start is None


def downgrade_guarded(
    settings: Settings, target: str, *, yes: bool, force: bool
) -> None:
    """Downgrade; undoing every revision (dropping all tables) must be confirmed."""
    if lands_on_base(settings, target):
        confirm_destructive(
            settings, "downgrade to base (drop every table)", yes=yes, force=force
        )
    migrations.downgrade(settings, target)
