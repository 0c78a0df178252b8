"""doctor: check this machine can run the dev database."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import reports_errors, settings


@task(
    help={
        "missing_tools": "Only print the build tools this machine lacks and needs "
        "(one per line; nothing when none), for scripts/onboard.sh to install.",
        "quiet": "One line when every check passes; the table (on stderr) only when "
        "one fails.",
    }
)
@reports_errors
def doctor(c: Context, missing_tools: bool = False, quiet: bool = False) -> None:
    """Check Python, Docker, disk, port and image; print a fix for each failure."""
    from rich.console import Console
    from rich.table import Table

    from devdb.doctor import missing_build_tools, run_checks
    from devdb.errors import DevDbError

    if missing_tools:
        for tool in missing_build_tools(settings()):
            print(tool)
        return
    checks = run_checks(settings())
    failed = [check.name for check in checks if not check.ok]
    if quiet and not failed:
        print(f"all {len(checks)} checks pass (`invoke doctor` shows them)")
        return
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
    console = Console(stderr=quiet)
    if not console.is_terminal:
        console.width = 120  # CI logs and pipes: room for the fix column, unwrapped
    console.print(table)
    if failed:
        raise DevDbError(
            f"{len(failed)} check(s) failed: {', '.join(failed)}",
            "apply the fix in each FAIL row, then run `invoke doctor` again",
        )
