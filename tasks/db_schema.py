"""db.*: the schema dump and the checks on it."""

from __future__ import annotations

from invoke import Context, task

from tasks._support import reports_errors, settings


@task(
    iterable=["rehash"],
    help={
        "rehash": "Re-record the checksum of this revision (one not merged yet); "
        "repeatable.",
    },
)
@reports_errors
def dump_schema(c: Context, rehash: list[str] | None = None) -> None:
    """Dump the dev database's schema to db/schema.sql; record new revisions' checksums."""
    from devdb import workflow
    from devdb.console import note
    from devdb.schema import checksums, init_sql

    chosen = settings()
    changed = workflow.refresh_schema_file(chosen)
    shown = chosen.schema_file.relative_to(chosen.project_root)
    note(f"{shown} {'updated' if changed else 'unchanged'}")
    sum_file = chosen.migrations_sum_file
    recorded = checksums.record_revisions(
        chosen.script_location, sum_file, rehash=rehash or ()
    )
    if recorded:
        note(f"{sum_file.name}: recorded {', '.join(recorded)}")
    for change in init_sql.write_init_sql(chosen):
        note(f"docker-compose init path: {change}")


@task(
    help={
        "against": "The branch whose head your unreleased revisions must sit on "
        "(default: the release branch, main, and its upstream).",
    }
)
@reports_errors
def check(c: Context, against: str = "") -> None:
    """Fail when the migrations at head, the revision checksums and db/schema.sql disagree."""
    from devdb.console import note
    from devdb.schema import contract

    chosen = settings()
    report = contract.check_contract(
        chosen,
        script_location=chosen.script_location,
        schema_file=chosen.schema_file,
        sum_file=chosen.migrations_sum_file,
        against=against or None,
    )
    error = report.error()
    if error is not None:
        if report.needs_listing:
            print(report.render(), end="")
        raise error
    note(f"Schema contract holds: db/schema.sql matches head on {report.image}")
