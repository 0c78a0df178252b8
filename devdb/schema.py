"""The schema dump: pg_dump inside the container, made byte-stable, plus a manifest.

pg_dump runs *inside* the database container, so its version always matches the
server (a host pg_dump refuses a newer server). Its output is normalised: header
comments, `\\restrict` keys (random since 17.6), and session SETs are removed, and so
is the extension's comment (it names the build's licence, not our schema). A
schema-only dump does not say which tables are hypertables, so a manifest of
hypertables and their dimensions follows the SQL, then the Alembic revision.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from devdb.containers import exec_in
from devdb.errors import DevDbError

if TYPE_CHECKING:
    from docker.models.containers import Container
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings

# TimescaleDB's own catalogs and views; they are the extension's, not our schema.
EXCLUDED_SCHEMAS = (
    "_timescaledb*",
    "timescaledb_information",
    "timescaledb_experimental",
    "toolkit_experimental",
)
# Alembic's bookkeeping: the manifest records the revision instead.
EXCLUDED_TABLES = ("public.alembic_version",)

VOLATILE_LINE = re.compile(
    r"^(\\restrict |\\unrestrict |SET |SELECT pg_catalog\.set_config\("
    r"|-- Dumped (from|by) |-- PostgreSQL database dump"
    r"|COMMENT ON EXTENSION )"
)


def pg_dump_command(settings: Settings) -> list[str]:
    command = [
        "pg_dump",
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--username",
        settings.user,
        "--dbname",
        settings.database,
    ]
    command += [f"--exclude-schema={schema}" for schema in EXCLUDED_SCHEMAS]
    command += [f"--exclude-table={table}" for table in EXCLUDED_TABLES]
    return command


def normalise_dump(raw: str) -> str:
    """Byte-stable SQL: volatile lines gone, blank runs collapsed, one final newline."""
    kept = [line.rstrip() for line in raw.splitlines() if not VOLATILE_LINE.match(line)]
    text = "\n".join(kept)
    # Removing lines leaves "--\n--\n" husks of header blocks and runs of blanks.
    text = re.sub(r"(?m)^--\n(?=--\n)", "", text)
    text = re.sub(r"(?m)^--\n\n", "", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def run_pg_dump(container: Container, settings: Settings) -> str:
    """The raw dump, made in the container; the password travels in the environment."""
    code, stdout, stderr = exec_in(
        container,
        pg_dump_command(settings),
        environment={"PGPASSWORD": settings.password},
    )
    if code != 0:
        raise DevDbError(
            f"pg_dump failed in {container.name}: {stderr.strip().splitlines()[-1] if stderr.strip() else f'exit {code}'}",
            "is the database up (`invoke db.status`)?",
        )
    return stdout


HYPERTABLES_QUERY = """
SELECT d.hypertable_schema, d.hypertable_name, d.dimension_number, d.column_name,
       d.column_type::text, d.dimension_type,
       coalesce(d.time_interval::text, d.integer_interval::text, ''),
       coalesce(d.num_partitions::text, '')
  FROM timescaledb_information.dimensions d
 ORDER BY 1, 2, 3
"""


def manifest_lines(connection: Connection) -> list[str]:
    """The hypertable manifest, one comment line per dimension, sorted."""
    from sqlalchemy import text

    has_timescaledb = connection.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    ).scalar()
    if not has_timescaledb:
        return ["-- (timescaledb is not installed in this database)"]
    rows = connection.execute(text(HYPERTABLES_QUERY)).all()
    lines = []
    for schema, table, number, column, column_type, kind, interval, partitions in rows:
        detail = f"interval {interval}" if interval else f"{partitions} partitions"
        lines.append(
            f"-- hypertable {schema}.{table} dimension {number}: "
            f"{column} ({column_type}), {kind.lower()}, {detail}"
        )
    return lines or ["-- (no hypertables)"]


def dump_schema(
    container: Container, settings: Settings, *, include_revision: bool = True
) -> str:
    """The normalised dump of ``settings``' database in ``container``, with manifest."""
    from devdb.migrations import connect, database_revisions

    body = normalise_dump(run_pg_dump(container, settings))
    with connect(settings) as connection:
        lines = manifest_lines(connection)
        revisions = database_revisions(connection)
    footer = [
        "",
        "-- TimescaleDB manifest (a schema-only dump does not record hypertables)",
        *lines,
    ]
    if include_revision:
        footer += ["", f"-- alembic revision: {' '.join(revisions) or 'base'}"]
    return body + "\n".join(footer) + "\n"
