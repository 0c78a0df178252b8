"""The destructive-operation guard: ask first, and never touch a remote by accident."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from devdb.errors import DevDbError

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
