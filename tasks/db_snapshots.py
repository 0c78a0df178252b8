"""db.*: dev-data snapshots: take one, restore one, list them, drop one."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import OptionalPositionalTask, reports_errors, resolved_settings

YES = "Do not ask before replacing (or dropping) data."
FORCE = "Allow it on a non-local database (DATABASE_URL)."


@task(
    klass=OptionalPositionalTask,
    positional=["name"],
    help={
        "name": "The snapshot's name (default: the date and time), e.g. before-002.",
        "drop": "Drop the snapshot NAME instead of taking one (asks first).",
        "yes": YES,
        "force": FORCE,
    },
)
@reports_errors
def snapshot(
    c: Context,
    name: str | None = None,
    drop: str = "",
    yes: bool = False,
    force: bool = False,
) -> None:
    """Copy the dev database aside as a snapshot (seconds; `db.restore` puts it back)."""
    from devdb import snapshots
    from devdb.console import note

    if drop:
        gone = snapshots.drop_snapshot(resolved_settings(), drop, yes=yes, force=force)
        note(f"Dropped the snapshot '{gone.name}' ({snapshots.describe(gone)})")
        return
    taken = snapshots.snapshot(resolved_settings(), name or "", force=force)
    note(
        f"Snapshot '{taken.name}' of '{taken.source}' taken at revision "
        f"{', '.join(taken.revisions) or 'none'} ({taken.size_bytes / 2**20:,.0f} MB); "
        f"`invoke db.restore {taken.name}` puts it back"
    )


@task(
    klass=OptionalPositionalTask,
    positional=["name"],
    help={
        "name": "The snapshot to restore (default: the newest).",
        "yes": YES,
        "force": FORCE,
    },
)
@reports_errors
def restore(
    c: Context, name: str | None = None, yes: bool = False, force: bool = False
) -> None:
    """Replace the dev database with a snapshot, all at once (asks first)."""
    from devdb import snapshots
    from devdb.console import note

    restored = snapshots.restore(resolved_settings(), name or "", yes=yes, force=force)
    taken = restored.snapshot
    note(
        f"Restored the snapshot '{taken.name}' ({snapshots.describe(taken)}) in "
        f"{restored.seconds:.1f} s"
    )


@task(name="snapshots")
@reports_errors
def list_snapshots(c: Context) -> None:
    """List the snapshots: name, size, revision, age."""
    from rich.console import Console
    from rich.table import Table

    from devdb import snapshots

    found = snapshots.list_snapshots(resolved_settings())
    if not found:
        print("No snapshots yet: `invoke db.snapshot NAME` takes one.")
        return
    table = Table("name", "size", "revision", "age", "of", title_justify="left")
    for taken in found:
        table.add_row(
            taken.name,
            f"{taken.size_bytes / 2**20:,.0f} MB",
            ", ".join(taken.revisions) or "none",
            snapshots.age(taken.taken_at),
            taken.source,
        )
    Console().print(table)
