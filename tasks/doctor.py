"""doctor: check this machine can run the dev database."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import reports_errors, settings


@task
@reports_errors
def doctor(c: Context) -> None:
    """Check Python, Docker, disk, port and image; print a fix for each failure."""
    from rich.console import Console
    from rich.table import Table

    from devdb.doctor import run_checks
    from devdb.errors import DevDbError

    checks = run_checks(settings())
    table = Table(
        "check", "result", "found", "fix", title="invoke doctor", title_justify="left"
    )
    for check in checks:
        table.add_row(
            check.name,
            "[green]pass[/]" if check.ok else "[red]FAIL[/]",
            check.detail,
            check.fix,
        )
    console = Console()
    if not console.is_terminal:
        console.width = 120  # CI logs and pipes: room for the fix column, unwrapped
    console.print(table)
    failed = [check.name for check in checks if not check.ok]
    if failed:
        raise DevDbError(
            f"{len(failed)} check(s) failed: {', '.join(failed)}",
            "apply the fix in each FAIL row, then run `invoke doctor` again",
        )
