"""doctor: check this machine can run the dev database."""

from __future__ import annotations

from invoke import Context, task


@task
def doctor(c: Context) -> None:
    """Check Python, Docker, disk and port; print a fix for each failure."""
    raise NotImplementedError
