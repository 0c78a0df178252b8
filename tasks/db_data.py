"""db.*: what helps work on the schema without changing it: seed data, lint revisions."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import guarded_settings, reports_errors, settings


@task(
    help={
        "profile": "smoke (one day, 5 symbols, < 1 s) or week (about 1 million candles).",
        "seed": "Random seed: the same seed gives the same rows (default 42).",
        "symbols": "How many symbols (default: the profile's).",
        "yes": "Do not ask before replacing rows the tables already hold.",
        "force": "Allow it on a non-local database (DATABASE_URL).",
    }
)
@reports_errors
def seed(
    c: Context,
    profile: str = "smoke",
    seed: int = 42,
    yes: bool = False,
    symbols: int = 0,
    force: bool = False,
) -> None:
    """Replace the five tables' rows with deterministic synthetic market data.

    Asks first when the tables hold rows (refuses without --yes when there is no
    terminal to ask on)."""
    from devdb.seed import load as seeding

    result = seeding.seed_database(
        guarded_settings("replace the seed tables' rows", force=force),
        profile=profile,
        seed=seed,
        symbols=symbols or None,
        yes=yes,
        force=force,
    )
    seeding.report(result)


@task(
    help={
        "all": "Lint released revisions too (they never change: findings there "
        "are fixed by a new revision)."
    }
)
@reports_errors
def lint(c: Context, all: bool = False) -> None:
    """Lint the revisions' SQL: squawk plus the TimescaleDB rules (no database needed)."""
    from devdb.console import note
    from devdb.lint.run import lint as lint_revisions

    for line in lint_revisions(settings(), include_released=all):
        note(line)
