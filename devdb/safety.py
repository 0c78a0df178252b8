"""The destructive-operation guard: ask first, and never touch a remote by accident.

Every task that can lose data goes through here: `db.downgrade` and `db.redo`
(``guard_downgrade``), `db.reset`, `db.destroy`, `db.seed` and `db.backout`
(``confirm_destructive``), `db.stamp` (``refuse_non_local``). Whether the target
is this machine is ``devdb.locality``'s one decision, from where libpq and the
Docker client really go, made before anything connects; what a downgrade would
lose is measured on the database (``devdb.rows_at_risk``) and said in the
question or the refusal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from devdb.errors import DevDbError
from devdb.locality import Verdict, database_locality
from devdb.rows_at_risk import (
    DataAtRisk,
    check_downgrade_target,
    data_at_risk,
    visibly_base,
)
from devdb.schema import migrations

if TYPE_CHECKING:
    from devdb.settings import Settings

# A target that is a file on this machine (db.backout's revision file).
THIS_MACHINE = Verdict(True, ())


def ask_on_terminal(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False  # stdin closed mid-question: that is not a yes
    return answer.strip().lower() in ("y", "yes")


def refuse_non_local(
    settings: Settings,
    action: str,
    *,
    force: bool,
    where: str | None = None,
    verdict: Verdict | None = None,
    kind: str = "database",
) -> None:
    """Refuse ``action`` on a database (or engine) that is not on this machine.

    Decided before any connection (``devdb.locality``): a shared or managed
    database is never reached by a destructive task that was not told ``--force``.
    The refusal names where the connection would really have gone.
    """
    if force:
        return
    verdict = verdict or database_locality(settings)
    if verdict.local:
        return
    why = verdict.why()
    raise DevDbError(
        f"refusing to {action} on {where or settings.safe_url()}: it is not a "
        f"local {kind} (it goes to {verdict.where()}{f'; {why}' if why else ''})",
        "if you really mean that one, run again with --force "
        "(and --yes to skip the question)",
    )


def confirm_destructive(
    settings: Settings,
    action: str,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
    interactive: bool | None = None,
    where: str | None = None,
    verdict: Verdict | None = None,
    kind: str = "database",
) -> None:
    """Return when ``action`` may go ahead; raise DevDbError when it may not.

    A non-local target needs ``force`` whatever else is said: ``--yes`` is typed out
    of habit, ``--force`` only on purpose. Then ``yes`` skips the question; without
    it we ask, and with no terminal to ask on we refuse rather than hang or guess.
    ``where``/``verdict`` describe the target when it is not the database itself
    (``db.destroy`` deletes a container on a Docker engine). Nothing here connects.
    """
    where = where or settings.safe_url()
    refuse_non_local(
        settings, action, force=force, where=where, verdict=verdict, kind=kind
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


def locality_or_unknown(settings: Settings) -> Verdict:
    """The verdict, or "not local" when it cannot be told (asked under --force)."""
    try:
        return database_locality(settings)
    except DevDbError:
        return Verdict(False, ())


def downgrade_label(settings: Settings, target: str) -> str:
    """How a downgrade to ``target`` is named in questions and refusals."""
    check_downgrade_target(target)
    if visibly_base(settings, target):
        return "downgrade to base (drop every table)"
    return f"downgrade to '{target}'"


def guard_downgrade(
    settings: Settings,
    target: str,
    *,
    yes: bool,
    force: bool,
    action: str | None = None,
    ask: Callable[[str], bool] | None = None,
) -> DataAtRisk:
    """Return when downgrading to ``target`` may go ahead, else raise DevDbError.

    Non-local: refused without --force before any connection. Local (or forced):
    asks when the undone revisions put rows at risk, or undo every revision;
    ``--yes`` answers for scripts, and without a terminal it refuses.
    """
    check_downgrade_target(target)
    label = action or downgrade_label(settings, target)
    verdict = locality_or_unknown(settings) if force else database_locality(settings)
    refuse_non_local(settings, label, force=force, verdict=verdict)
    risk = data_at_risk(settings, target)
    if not risk.undone:
        return risk
    if risk.tables or risk.to_base or not verdict.local:
        undoing = ", ".join(risk.undone)
        what = (
            f"{label}: undoing {undoing} drops every table"
            if risk.to_base
            else f"{label}: undoing {undoing}"
        )
        confirm_destructive(
            settings,
            f"{what}; rows at risk: {risk.describe()}",
            yes=yes,
            force=force,
            ask=ask,
            verdict=verdict,
        )
    return risk


def downgrade_guarded(
    settings: Settings, target: str, *, yes: bool, force: bool
) -> None:
    """Downgrade once the guard agrees (see guard_downgrade)."""
    guard_downgrade(settings, target, yes=yes, force=force)
    migrations.downgrade(settings, target)
