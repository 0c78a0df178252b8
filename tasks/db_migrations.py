"""db.*: migrations: upgrade, downgrade, stamp, redo, history, new revisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task

from tasks._support import (
    guarded_settings,
    reports_errors,
    resolved_settings,
    settings,
    whole_number,
)

if TYPE_CHECKING:
    from devdb.settings import Settings


NO_DUMP_HELP = "Leave db/schema.sql alone (it is refreshed from the dev database)."


def refresh_schema_dump(
    target: Settings, no_dump: bool, *, after_downgrade: bool = False
) -> None:
    """Keep db/schema.sql in step with the dev database after a migration.

    A database named by DATABASE_URL is not the contract's source: left alone.
    """
    if no_dump or target.exact_target:
        return
    from devdb import workflow
    from devdb.console import note
    from devdb.errors import DevDbError

    try:
        changed = workflow.refresh_schema_file(target, after_downgrade=after_downgrade)
    except OSError as error:
        # The migration is already committed: say so, or it looks like it failed.
        raise DevDbError(
            "the migration succeeded, but writing db/schema.sql failed: "
            f"{error.strerror or error}",
            "the database is migrated; make db/ writable, then "
            "`invoke db.dump-schema` to refresh db/schema.sql",
        ) from None
    note(
        "db/schema.sql updated: review the diff and commit it"
        if changed
        else "db/schema.sql unchanged"
    )


@task(
    help={
        "revision": "Target revision (default: head).",
        "sql": "Print the SQL instead of running it (needs no database).",
        "no_dump": NO_DUMP_HELP,
        "yes": "Do not ask before undoing another branch's revisions whose tables "
        "hold rows (they are lost).",
        "force": "Allow undoing another branch's revisions on a non-local database.",
    }
)
@reports_errors
def upgrade(
    c: Context,
    revision: str = "head",
    sql: bool = False,
    no_dump: bool = False,
    yes: bool = False,
    force: bool = False,
) -> None:
    """Upgrade the database to a revision (default: head), from any branch's history."""
    from devdb.console import note
    from devdb.schema import migrations
    from devdb.team import switch

    if sql:
        migrations.upgrade_sql(settings(), revision)
        return
    target = resolved_settings()
    # After a branch switch the dev database may hold the other branch's files:
    # undo those first (asking when rows would go), then this branch's upgrade.
    for line in switch.move_to_this_branch(target, yes=yes, force=force):
        note(line)
    migrations.upgrade(target, revision)
    refresh_schema_dump(target, no_dump)


@task(
    help={
        "revision": "Target revision ('base' drops everything; '-1' is one step).",
        "steps": "Go down this many revisions instead of naming one.",
        "yes": "Do not ask before undoing revisions whose tables hold rows.",
        "force": "Allow any downgrade on a non-local database.",
        "no_dump": NO_DUMP_HELP,
    }
)
@reports_errors
def downgrade(
    c: Context,
    revision: str = "",
    steps: str = "",
    yes: bool = False,
    force: bool = False,
    no_dump: bool = False,
) -> None:
    """Downgrade the database to a revision, or by a number of steps."""
    from devdb import safety
    from devdb.errors import DevDbError

    if bool(revision) == bool(steps):
        raise DevDbError(
            "db.downgrade needs exactly one of --revision or --steps",
            "e.g. `invoke db.downgrade --steps 1` or `invoke db.downgrade --revision base`",
        )
    if steps:
        revision = f"-{whole_number(steps, '--steps', minimum=1)}"
    target = guarded_settings(safety.downgrade_label(settings(), revision), force=force)
    safety.downgrade_guarded(target, revision, yes=yes, force=force)
    refresh_schema_dump(target, no_dump, after_downgrade=True)


@task(
    help={
        "revision": "The revision to record, without running migrations.",
        "force": "Allow it on a non-local database (DATABASE_URL).",
    }
)
@reports_errors
def stamp(c: Context, revision: str, force: bool = False) -> None:
    """Record a revision as current without running migrations (adopt a database)."""
    from devdb.schema import migrations

    # A wrong stamp makes the next upgrade or downgrade run the wrong SQL on real
    # data: on a shared database only on purpose.
    target = guarded_settings(f"stamp '{revision}'", force=force)
    migrations.stamp(target, revision)


@task
@reports_errors
def current(c: Context) -> None:
    """Print the revision the database is at."""
    from devdb.schema import migrations

    revisions = migrations.current(resolved_settings())
    print(" ".join(revisions) if revisions else "base (no revision applied)")


@task
@reports_errors
def history(c: Context) -> None:
    """List the revisions, oldest first (needs no database)."""
    from devdb.schema import revisions

    for info in revisions.history(settings().script_location):
        head = " (head)" if info.is_head else ""
        print(f"{info.down_revision or 'base'} -> {info.revision}{head}, {info.doc}")


@task(
    help={
        "yes": "Do not ask when the revision's tables hold rows (they are lost).",
        "force": "Allow redo on a non-local database.",
        "no_dump": NO_DUMP_HELP,
    }
)
@reports_errors
def redo(
    c: Context, yes: bool = False, force: bool = False, no_dump: bool = False
) -> None:
    """Down one revision and up again (re-run the migration you are editing)."""
    from devdb import workflow
    from devdb.console import note

    target = guarded_settings("redo the latest revision", force=force)
    note(f"Redid {workflow.redo(target, yes=yes, force=force)}")
    refresh_schema_dump(target, no_dump)


@task(
    help={
        "revision": "The unreleased head revision to take out (default: the head).",
        "yes": "Do not ask before downgrading the dev database past it.",
        "force": "Allow that on a non-local database.",
    }
)
@reports_errors
def backout(
    c: Context, revision: str = "", yes: bool = False, force: bool = False
) -> None:
    """Take an unreleased revision out: downgrade, delete it, restore the contract."""
    from devdb import workflow
    from devdb.console import note

    for line in workflow.backout(settings(), revision, yes=yes, force=force):
        note(line)


@task(
    help={"message": "What the revision changes; becomes its docstring and file name."}
)
@reports_errors
def revision(c: Context, message: str) -> None:
    """Write a new raw-SQL revision file after head (needs no database)."""
    from devdb import workflow
    from devdb.console import note

    path = workflow.new_revision(settings(), message)
    note(
        f"Wrote {path.relative_to(settings().project_root)}: fill in upgrade() and "
        'downgrade() with op.execute("""..."""), then `invoke db.upgrade`'
    )


@task(
    help={
        "against": "The branch to rebase on (default: the release branch, main, "
        "and its upstream).",
        "dry_run": "Print the plan; change nothing.",
        "yes": "Do not ask before undoing your revisions in the dev database when "
        "they cannot be carried across with their rows.",
        "force": "Allow moving a non-local dev database.",
    }
)
@reports_errors
def rebase(
    c: Context,
    against: str = "",
    dry_run: bool = False,
    yes: bool = False,
    force: bool = False,
) -> None:
    """Renumber your unreleased revisions on top of the release branch's head."""
    from devdb.console import note
    from devdb.team import rebase as rebasing

    for line in rebasing.rebase(
        settings(), against=against, dry_run=dry_run, yes=yes, force=force
    ):
        note(line)
