"""db.*: the dev database's lifecycle and its migrations."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import reports_errors, resolved_settings, settings


@task(
    help={
        "no_migrate": "Start the database but do not upgrade it to head.",
        "recreate": "Recreate the container from the current settings (data kept).",
        "port": "Host port on 127.0.0.1 (0 picks a free one); default from settings.",
    }
)
@reports_errors
def up(c: Context, no_migrate: bool = False, recreate: bool = False, port: int = -1) -> None:
    """Start (or reuse) the dev database, wait until it answers, upgrade to head."""
    from devdb import lifecycle
    from devdb.console import note

    chosen = settings()
    if port >= 0:
        chosen = chosen.with_port(port)
    result = lifecycle.up(chosen, migrate=not no_migrate, recreate=recreate)
    state = "created" if result.created else "started" if result.started else "already running"
    note(
        f"Dev database {state}: {chosen.with_port(result.port).safe_url()} "
        f"(answered after {result.waited_seconds:.2f} s)"
    )


@task(
    help={
        "revision": "Target revision (default: head).",
        "sql": "Print the SQL instead of running it (needs no database).",
    }
)
@reports_errors
def upgrade(c: Context, revision: str = "head", sql: bool = False) -> None:
    """Upgrade the database to a revision (default: head)."""
    from devdb import migrations

    if sql:
        migrations.upgrade_sql(settings(), revision)
        return
    migrations.upgrade(resolved_settings(), revision)


@task(
    help={
        "revision": "Target revision ('base' drops everything; '-1' is one step).",
        "steps": "Go down this many revisions instead of naming one.",
        "yes": "Do not ask before dropping everything (downgrade to base).",
        "force": "Allow downgrading to base on a non-local database.",
    }
)
@reports_errors
def downgrade(
    c: Context, revision: str = "", steps: int = 0, yes: bool = False, force: bool = False
) -> None:
    """Downgrade the database to a revision, or by a number of steps."""
    from devdb import migrations
    from devdb.errors import DevDbError

    if bool(revision) == bool(steps):
        raise DevDbError(
            "db.downgrade needs exactly one of --revision or --steps",
            "e.g. `invoke db.downgrade --steps 1` or `invoke db.downgrade --revision base`",
        )
    target = revision or f"-{steps}"
    migrations.downgrade_guarded(resolved_settings(), target, yes=yes, force=force)


@task(help={"revision": "The revision to record, without running migrations."})
@reports_errors
def stamp(c: Context, revision: str) -> None:
    """Record a revision as current without running migrations (adopt a database)."""
    from devdb import migrations

    migrations.stamp(resolved_settings(), revision)


@task
@reports_errors
def current(c: Context) -> None:
    """Print the revision the database is at."""
    from devdb import migrations

    revisions = migrations.current(resolved_settings())
    print(" ".join(revisions) if revisions else "base (no revision applied)")


@task
@reports_errors
def history(c: Context) -> None:
    """List the revisions, oldest first (needs no database)."""
    from devdb import migrations

    for info in migrations.history(settings()):
        head = " (head)" if info.is_head else ""
        print(f"{info.down_revision or 'base'} -> {info.revision}{head}, {info.doc}")
