"""The destructive-operation guard: ask first, and never touch a remote by accident."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from devdb.errors import DevDbError

if TYPE_CHECKING:
    from devdb.settings import Settings


def ask_on_terminal(question: str) -> bool:
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def confirm_destructive(
    settings: Settings,
    action: str,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] = ask_on_terminal,
    interactive: bool | None = None,
) -> None:
    """Return when ``action`` may go ahead; raise DevDbError when it may not.

    A non-local database needs ``force`` whatever else is said. Then ``yes`` skips
    the question; without it we ask, and with no terminal to ask on we refuse.
    """
    where = settings.safe_url()
    if not settings.is_local and not force:
        raise DevDbError(
            f"refusing to {action} on {where}: it is not a local database",
            "if you really mean that database, run again with --force "
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
    if not ask(f"This will {action} on {where}. Continue?"):
        raise DevDbError(f"{action} cancelled; nothing was changed", "run again and answer y, or pass --yes")
