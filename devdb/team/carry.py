"""Carrying the dev database across a renumbering, with its rows.

My ``002`` is applied and holds rows; a rebase made it ``003`` on top of a
teammate's ``002``. Undoing mine would lose the rows. Where the order does not
matter, the teammate's revisions can go *under* mine instead: stamp the database
down to where the two histories part, run the teammate's upgrades, stamp it at
my revision's new id. Whether the order matters is tried first on a throwaway
database (the same steps, then a dump compared with a clean database at the new
head), never found out on the dev database; and after the move the dev
database's own dump is compared again.

When the order matters (the dumps differ, or a teammate's revision fails on my
data), nothing is kept half-done: the way forward is the downgrade path, which
asks first when rows would go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from devdb.console import note, warn
from devdb.database import connect
from devdb.errors import DevDbError
from devdb.safety import guard_downgrade
from devdb.schema import migrations
from devdb.schema.collisions import RevisionFile, linear_chain, read_revision_files
from devdb.schema.dump import dump_diff, dump_schema
from devdb.schema.journal import (
    Applied,
    read_journal,
    recorded_chain,
    replace_rows,
    source_digest,
)
from devdb.team.renumber import body_of
from devdb.team.scratch import scratch_project

if TYPE_CHECKING:
    from docker.models.containers import Container

    from devdb.settings import Settings


@dataclass(frozen=True)
class CarryPlan:
    """How the journal's history becomes the tree's without undoing mine."""

    journal: dict[str, Applied]
    base: str | None  # where the two histories part (None: base)
    under: tuple[RevisionFile, ...]  # the tree's revisions to slip under mine
    carried: tuple[tuple[Applied, RevisionFile], ...]  # mine: as applied, as now

    @property
    def old_top(self) -> str:
        return self.carried[-1][0].revision

    @property
    def new_top(self) -> str:
        return self.carried[-1][1].revision

    def describe(self) -> str:
        under = ", ".join(f.revision for f in self.under) or "nothing"
        moved = ", ".join(f"{a.revision} -> {f.revision}" for a, f in self.carried)
        return f"apply {under} under yours, then renumber yours ({moved})"


def plan_carry(
    journal: dict[str, Applied], files: list[RevisionFile]
) -> CarryPlan | None:
    """A carry when the journal's newest revisions are the tree's, renumbered.

    None when there is nothing to carry, or when what the database holds is not a
    renumbering of this tree's revisions (a branch switch: see devdb.team.switch).
    """
    applied = recorded_chain(journal)
    tree = linear_chain(files)
    same = 0
    while (
        same < len(applied)
        and same < len(tree)
        and applied[same] == tree[same].revision
        and journal[applied[same]].sha256
        == source_digest(tree[same].path.read_text(encoding="utf-8"))
    ):
        same += 1
    if same == len(applied):
        return None
    by_body = {body_of(f.path.read_text(encoding="utf-8")): f for f in tree[same:]}
    carried = []
    for revision in applied[same:]:
        now = by_body.get(body_of(journal[revision].source))
        if now is None:
            return None
        carried.append((journal[revision], now))
    start = tree.index(carried[0][1])
    if tree[start : start + len(carried)] != [now for _, now in carried]:
        return None
    return CarryPlan(
        journal,
        tree[same - 1].revision if same else None,
        tuple(tree[same:start]),
        tuple(carried),
    )


def apply_under(
    settings: Settings, plan: CarryPlan, under_files: dict[str, str]
) -> None:
    """The move itself, on whatever database ``settings`` names."""
    base = plan.base or "base"
    with scratch_project(settings, under_files) as under:
        migrations.run_command(under, "stamp", base, purge=True)
        if plan.under:
            migrations.upgrade(under, plan.under[-1].revision)
    migrations.run_command(settings, "stamp", plan.new_top, purge=True)


def files_up_to(tree: list[RevisionFile], last: str | None) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for revision_file in tree:
        chosen[revision_file.path.name] = revision_file.path.read_text(encoding="utf-8")
        if revision_file.revision == last:
            break
    return chosen


def as_applied_files(plan: CarryPlan, tree: list[RevisionFile]) -> dict[str, str]:
    """The history the database holds: the shared part, then mine as applied."""
    chosen = files_up_to(tree, plan.base) if plan.base else {}
    for applied, _ in plan.carried:
        chosen[applied.file_name] = applied.source
    return chosen


def trial(
    container: Container, scratch_db: Settings, plan: CarryPlan, clean: str
) -> str:
    """The carry on a throwaway database; the diff from ``clean`` (a clean
    database's dump at the new top) when the order matters."""
    tree = linear_chain(read_revision_files(scratch_db.script_location / "versions"))
    with scratch_project(scratch_db, as_applied_files(plan, tree)) as as_applied:
        migrations.upgrade(as_applied, plan.old_top)
    last_under = plan.under[-1].revision if plan.under else plan.base
    apply_under(scratch_db, plan, files_up_to(tree, last_under))
    carried = dump_schema(container, scratch_db)
    if carried == clean:
        return ""
    return dump_diff(
        clean, carried, f"clean at {plan.new_top}", "carried", max_lines=30
    )


def carry(
    settings: Settings,
    plan: CarryPlan,
    *,
    order_matters: str,
    clean_dump: str,
    dev_container: Container,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> list[str]:
    """Move the dev database to the tree's history; what was done, for people."""
    tree = linear_chain(read_revision_files(settings.script_location / "versions"))
    if order_matters:
        warn(
            f"your revisions and {', '.join(f.revision for f in plan.under)} do not "
            "commute: applied under yours they give another schema than the new "
            f"history (- clean, + carried):\n{order_matters}"
        )
        return downgrade_path(settings, plan, tree, yes=yes, force=force, ask=ask)
    last_under = plan.under[-1].revision if plan.under else plan.base
    try:
        with migrations.progress_hidden():
            apply_under(settings, plan, files_up_to(tree, last_under))
    except DevDbError as error:
        restore(settings, plan, tree)
        warn(
            f"applying {', '.join(f.revision for f in plan.under)} under yours "
            f"failed on the dev database's data, so it was rolled back: {error.message}"
        )
        return downgrade_path(settings, plan, tree, yes=yes, force=force, ask=ask)
    with connect(settings) as connection:
        journal = read_journal(connection)
        replace_rows(
            connection,
            [
                replace(
                    journal.get(now.revision, applied),
                    revision=now.revision,
                    file_name=now.path.name,
                    sha256=source_digest(now.path.read_text(encoding="utf-8")),
                    source=now.path.read_text(encoding="utf-8"),
                    branch=applied.branch,
                    applied_at=applied.applied_at,
                    stamped=applied.stamped,
                )
                for applied, now in plan.carried
            ],
            forget=set(),
        )
    done = [
        f"Dev database carried with its rows: {plan.describe()}",
    ]
    dumped = dump_schema(dev_container, settings)
    if dumped == clean_dump:
        done.append(
            f"Proved: the dev database's schema equals a clean database at {plan.new_top}"
        )
    else:
        warn(
            "the dev database's schema differs from a clean database at "
            f"{plan.new_top} (- clean, + dev database); it held changes no revision "
            "made:\n"
            + dump_diff(clean_dump, dumped, "clean", "dev database", max_lines=30)
        )
    return done


def restore(settings: Settings, plan: CarryPlan, tree: list[RevisionFile]) -> None:
    """Back to where the carry started: the applied revisions as the journal had them."""
    last_under = plan.under[-1].revision if plan.under else plan.base
    with scratch_project(settings, files_up_to(tree, last_under)) as under:
        migrations.downgrade(under, plan.base or "base")
    with scratch_project(settings, as_applied_files(plan, tree)) as as_applied:
        migrations.run_command(as_applied, "stamp", plan.old_top, purge=True)
    with connect(settings) as connection:
        replace_rows(
            connection,
            [plan.journal[r] for r in recorded_chain(plan.journal)],
            forget=set(read_journal(connection)),
        )


def downgrade_path(
    settings: Settings,
    plan: CarryPlan,
    tree: list[RevisionFile],
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None,
) -> list[str]:
    """Undo mine as applied (asking when rows would go), then upgrade to head."""
    mine = ", ".join(applied.revision for applied, _ in plan.carried)
    with scratch_project(settings, as_applied_files(plan, tree)) as as_applied:
        guard_downgrade(
            as_applied,
            plan.base or "base",
            yes=yes,
            force=force,
            action=f"undo your {mine} as applied, so the new history can be applied",
            ask=ask,
        )
        migrations.downgrade(as_applied, plan.base or "base")
    applied = migrations.upgrade(settings, "head")
    note(f"Dev database: undid your {mine}, then applied {', '.join(applied)}")
    return [
        f"Dev database moved by the downgrade path: undid {mine}, applied {', '.join(applied)}"
    ]
