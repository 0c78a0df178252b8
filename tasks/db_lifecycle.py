"""db.*: the dev container's life: up, down, destroy, reset, status, logs, psql."""

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
    from devdb.status import Status


@task(
    help={
        "no_migrate": "Start the database but do not upgrade it to head.",
        "recreate": "Recreate the container from the current settings (data kept).",
        "port": "Host port on 127.0.0.1 (0 picks a free one); default from settings.",
    }
)
@reports_errors
def up(
    c: Context, no_migrate: bool = False, recreate: bool = False, port: str = ""
) -> None:
    """Start (or reuse) the dev database, wait until it answers, upgrade to head."""
    from devdb import lifecycle
    from devdb.console import note

    chosen = settings()
    if port:
        chosen = chosen.with_port(
            whole_number(port, "--port", minimum=0, maximum=65535)
        )
    result = lifecycle.up(chosen, migrate=not no_migrate, recreate=recreate)
    state = (
        "created"
        if result.created
        else "started"
        if result.started
        else "already running"
    )
    migrated = (
        "migrations not run (--no-migrate)"
        if no_migrate
        else f"not migrated: {result.held_back}"
        if result.held_back
        else f"applied {', '.join(result.applied)}"
        if result.applied
        else "already at head"
    )
    note(
        f"Dev database {state}: {chosen.with_port(result.port).safe_url()} "
        f"(answered after {result.waited_seconds:.2f} s); {migrated}"
    )


@task
@reports_errors
def down(c: Context) -> None:
    """Stop the dev database; its data stays for the next `db.up`."""
    from devdb import lifecycle
    from devdb.console import note

    note(lifecycle.down(settings()))


@task(
    help={
        "yes": "Do not ask before deleting the container and its data volume.",
        "force": "Allow it when DOCKER_HOST names another machine's engine.",
    }
)
@reports_errors
def destroy(c: Context, yes: bool = False, force: bool = False) -> None:
    """Delete the dev container and its data volume (asks first)."""
    from devdb import lifecycle
    from devdb.console import note

    for line in lifecycle.destroy(settings(), yes=yes, force=force):
        note(line)


@task(
    help={
        "yes": "Do not ask before dropping the database.",
        "force": "Allow it on a non-local database (DATABASE_URL).",
        "no_migrate": "Leave the re-created database empty (no upgrade to head).",
        "seed": "Then load the smoke profile's synthetic data (see db.seed).",
    }
)
@reports_errors
def reset(
    c: Context,
    yes: bool = False,
    force: bool = False,
    no_migrate: bool = False,
    seed: bool = False,
) -> None:
    """Drop and re-create the database, then upgrade it to head (asks first)."""
    from devdb import lifecycle
    from devdb.console import note

    target = guarded_settings("drop and re-create the database", force=force)
    applied = lifecycle.reset(target, yes=yes, force=force, migrate=not no_migrate)
    if applied:
        note(f"Upgraded to head: applied {', '.join(applied)}")
    if seed:
        from devdb.seed import load as seeding

        # The reset was confirmed, and its tables are empty anyway.
        seeding.report(seeding.seed_database(target, yes=True, force=force))


@task(
    help={
        "check": "Exit 1 when anything is pending, unknown or unreachable (CI, app start)."
    }
)
@reports_errors
def status(c: Context, check: bool = False) -> None:
    """Show container, versions, current and pending revisions, hypertables."""
    from devdb.errors import DevDbError
    from devdb.status import status as read_status

    report = read_status(settings())
    print_status(report)
    if report.collisions:
        # Colliding revision files are never a state to report and carry on from.
        first = report.collisions[0]
        raise DevDbError(first.message, first.tip)
    if check and report.problems:
        raise DevDbError(
            "; ".join(report.problems),
            "`invoke db.up` starts and upgrades the dev database; "
            "`invoke db.upgrade` applies pending revisions (and moves a database "
            "holding another branch's revisions to this branch's head)",
        )


@task
@reports_errors
def remember(c: Context) -> None:
    """Save this shell's port, container name and image source in devdb.local.toml."""
    from devdb.console import note
    from devdb.local_settings import remember_local_choices

    chosen = settings()
    if not chosen.exact_target and chosen.port == 0:
        chosen = resolved_settings()  # --port 0: remember the port Docker chose
    changed = remember_local_choices(chosen)
    note(
        f"devdb.local.toml: remembered {', '.join(changed)}"
        if changed
        else "devdb.local.toml: nothing new to remember"
    )


@task
@reports_errors
def url(c: Context) -> None:
    """Print the database's URL, password hidden (where `db.up` put it)."""
    print(resolved_settings().safe_url())


@task(
    help={
        "follow": "Keep printing new lines until Ctrl-C.",
        "tail": "How many of the last lines to show (0: all).",
    }
)
@reports_errors
def logs(c: Context, follow: bool = False, tail: str = "100") -> None:
    """Print the dev database's server log."""
    from devdb.containers import shell

    lines = whole_number(tail, "--tail", minimum=0)
    shell.logs(settings(), follow=follow, tail=lines)


@task(
    help={"command": "Run one SQL command and exit instead of an interactive session."}
)
@reports_errors
def psql(c: Context, command: str = "") -> None:
    """Open psql inside the dev container (no PostgreSQL client needed here)."""
    from devdb.containers import shell

    shell.psql(settings(), command=command)


def print_status(report: Status) -> None:
    """One table for people; problems in red, each with what to do."""
    from rich.console import Console
    from rich.table import Table

    def known(revision: str) -> str:
        return (
            f"[red]{revision} (no migration file knows it: branch switched?)[/]"
            if revision in report.unknown_revisions
            else revision
        )

    table = Table(show_header=False, title="Dev database", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("container", report.container)
    table.add_row("state", report.container_state)
    table.add_row("image", report.image)
    table.add_row("port", report.port)
    table.add_row("url", report.url)
    if report.reachable:
        table.add_row("PostgreSQL", report.postgres_version)
        table.add_row("TimescaleDB", report.timescaledb_version)
        table.add_row(
            "current revision",
            ", ".join(known(r) for r in report.current) or "base (none applied)",
        )
        table.add_row(
            "pending",
            f"[yellow]{', '.join(report.pending)}[/]" if report.pending else "none",
        )
        table.add_row("head", ", ".join(report.head) or "-")
        if report.foreign:
            table.add_row(
                "other branch",
                "[red]" + "\n".join(report.foreign) + "[/]\n"
                "`invoke db.upgrade` moves it to this branch's head",
            )
        table.add_row(
            f"hypertables ({len(report.hypertables)})",
            ", ".join(report.hypertables) or "none",
        )
    else:
        table.add_row("server", f"[red]not answering: {report.unreachable_reason}[/]")
        table.add_row("head", ", ".join(report.head) or "-")
    Console().print(table)
