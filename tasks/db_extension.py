"""db.update-extension: move a kept volume's databases to the image's TimescaleDB."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import reports_errors, settings


@task
@reports_errors
def update_extension(c: Context) -> None:
    """ALTER EXTENSION timescaledb UPDATE in every database of the dev container."""
    from devdb.console import note
    from devdb.containers.dev import running_dev_container
    from devdb.extension_update import update_extension as update

    chosen = settings()
    container, _ = running_dev_container(chosen, purpose="the update runs inside it")
    for result in update(container, chosen.user):
        if result.before is None:
            note(f"{result.database}: no timescaledb extension; nothing to do")
        elif result.before == result.after:
            note(f"{result.database}: timescaledb {result.after} (already current)")
        else:
            note(f"{result.database}: timescaledb {result.before} -> {result.after}")
