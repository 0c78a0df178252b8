"""The TimescaleDB manifest: what a schema-only dump does not record.

pg_dump does not say which tables are hypertables (timescale/timescaledb-backup#7),
nor their dimensions, compression settings, policies (jobs) or continuous
aggregates' definitions. This reads them from ``timescaledb_information`` and writes
them as SQL comments after the dump, in a fixed order, without the ids and internal
names that depend on creation order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from devdb.schema.revisions import database_revisions

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class Dimension(NamedTuple):
    hypertable: str  # schema.table
    number: int
    column: str
    column_type: str
    kind: str  # "Time" or "Space"
    interval: str  # chunk interval, time or integer; "" for space dimensions
    partitions: str  # "" for time dimensions
    integer_now: str  # the integer_now function, "" when none


class CompressionColumn(NamedTuple):
    hypertable: str
    column: str
    segment_by: int | None  # position among the segment-by columns
    order_by: int | None  # position among the order-by columns
    ascending: bool | None
    nulls_first: bool | None


class Job(NamedTuple):
    procedure: str  # e.g. _timescaledb_functions.policy_retention
    target: str  # the hypertable or continuous aggregate, "" for none
    schedule: str
    config: str  # jsonb text, with the catalog's id numbers removed


class ContinuousAggregate(NamedTuple):
    view: str
    hypertable: str
    materialized_only: bool
    definition: str


@dataclass(frozen=True)
class Manifest:
    """What a schema-only dump does not record; every list sorted on creation."""

    timescaledb_installed: bool = True
    compressed: tuple[str, ...] = ()  # hypertables with compression enabled
    dimensions: tuple[Dimension, ...] = ()
    compression: tuple[CompressionColumn, ...] = ()
    jobs: tuple[Job, ...] = ()
    continuous_aggregates: tuple[ContinuousAggregate, ...] = ()
    revisions: tuple[str, ...] = ()


DIMENSIONS_QUERY = """
SELECT format('%I.%I', hypertable_schema, hypertable_name), dimension_number,
       column_name::text, column_type::text, dimension_type::text,
       coalesce(time_interval::text, integer_interval::text, ''),
       coalesce(num_partitions::text, ''), coalesce(integer_now_func::text, '')
  FROM timescaledb_information.dimensions
"""
COMPRESSED_QUERY = """
SELECT format('%I.%I', hypertable_schema, hypertable_name)
  FROM timescaledb_information.hypertables WHERE compression_enabled
"""
COMPRESSION_QUERY = """
SELECT format('%I.%I', hypertable_schema, hypertable_name), attname::text,
       segmentby_column_index, orderby_column_index, orderby_asc, orderby_nullsfirst
  FROM timescaledb_information.compression_settings
"""
# Job ids below 1000 are TimescaleDB's own (telemetry, job-history retention). Ids
# and the materialisation hypertable's name depend on creation order, so they stay
# out: a refresh policy names its continuous aggregate instead.
JOBS_QUERY = """
SELECT format('%I.%I', j.proc_schema, j.proc_name),
       -- format('%I') refuses NULL, and a job's target is NULL on one side at least.
       coalesce(CASE WHEN ca.view_name IS NOT NULL
                     THEN format('%I.%I', ca.view_schema, ca.view_name) END,
                CASE WHEN j.hypertable_name IS NOT NULL
                     THEN format('%I.%I', j.hypertable_schema, j.hypertable_name) END,
                ''),
       j.schedule_interval::text,
       coalesce((j.config - 'hypertable_id' - 'mat_hypertable_id')::text, '')
  FROM timescaledb_information.jobs j
  LEFT JOIN timescaledb_information.continuous_aggregates ca
    ON ca.materialization_hypertable_schema = j.hypertable_schema
   AND ca.materialization_hypertable_name = j.hypertable_name
 WHERE j.job_id >= 1000
"""
CAGGS_QUERY = """
SELECT format('%I.%I', view_schema, view_name),
       format('%I.%I', hypertable_schema, hypertable_name),
       materialized_only, coalesce(view_definition, '')
  FROM timescaledb_information.continuous_aggregates
"""
CAGGS_VIEW = "timescaledb_information.continuous_aggregates"
# name -> (views the query reads, query)
OPTIONAL_QUERIES = {
    "compressed": (("timescaledb_information.hypertables",), COMPRESSED_QUERY),
    "compression": (
        ("timescaledb_information.compression_settings",),
        COMPRESSION_QUERY,
    ),
    "jobs": (("timescaledb_information.jobs", CAGGS_VIEW), JOBS_QUERY),
    "continuous_aggregates": ((CAGGS_VIEW,), CAGGS_QUERY),
}


def read_manifest(connection: Connection, *, include_revision: bool = True) -> Manifest:
    """The manifest of the connected database, read from timescaledb_information."""
    from sqlalchemy import text  # lazy: SQLAlchemy costs a warm `db.up` ~0.3 s

    revisions = database_revisions(connection) if include_revision else ()
    installed = connection.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    ).scalar()
    if not installed:
        return Manifest(timescaledb_installed=False, revisions=revisions)

    def rows(views: tuple[str, ...], query: str) -> list[tuple]:
        # Views come and go between TimescaleDB versions; what a version lacks, it
        # cannot hold, so a missing view reads as empty rather than failing.
        present = connection.execute(
            text("SELECT bool_and(to_regclass(v) IS NOT NULL) FROM unnest(:views) v"),
            {"views": list(views)},
        ).scalar()
        return (
            [tuple(row) for row in connection.execute(text(query))] if present else []
        )

    optional = {name: rows(*query) for name, query in OPTIONAL_QUERIES.items()}
    dimensions = rows(("timescaledb_information.dimensions",), DIMENSIONS_QUERY)
    connection.commit()
    return build_manifest(
        dimensions=[Dimension(*row) for row in dimensions],
        compressed=[row[0] for row in optional["compressed"]],
        compression=[CompressionColumn(*row) for row in optional["compression"]],
        jobs=[Job(*row) for row in optional["jobs"]],
        continuous_aggregates=[
            ContinuousAggregate(*row) for row in optional["continuous_aggregates"]
        ],
        revisions=revisions,
    )


def build_manifest(
    *,
    dimensions: Iterable[Dimension] = (),
    compressed: Iterable[str] = (),
    compression: Iterable[CompressionColumn] = (),
    jobs: Iterable[Job] = (),
    continuous_aggregates: Iterable[ContinuousAggregate] = (),
    revisions: Iterable[str] = (),
) -> Manifest:
    """A Manifest in a fixed order, whatever order the catalog returned rows in."""
    return Manifest(
        compressed=tuple(sorted(compressed)),
        dimensions=tuple(sorted(dimensions, key=lambda d: (d.hypertable, d.number))),
        compression=tuple(sorted(compression, key=lambda c: (c.hypertable, c.column))),
        jobs=tuple(sorted(jobs)),
        continuous_aggregates=tuple(sorted(continuous_aggregates)),
        revisions=tuple(sorted(revisions)),
    )


def format_manifest(manifest: Manifest, *, include_revision: bool = True) -> str:
    """The manifest as SQL comments, one fact a line, grouped by hypertable."""
    lines = ["-- TimescaleDB manifest (a schema-only dump does not record these)"]
    if not manifest.timescaledb_installed:
        lines.append("-- (timescaledb is not installed in this database)")
    else:
        lines += hypertable_lines(manifest)
        lines += job_lines(manifest.jobs)
        lines += continuous_aggregate_lines(manifest.continuous_aggregates)
    if include_revision:
        lines += ["", f"-- alembic revision: {' '.join(manifest.revisions) or 'base'}"]
    return "\n".join(lines) + "\n"


def hypertable_lines(manifest: Manifest) -> list[str]:
    hypertables = sorted({d.hypertable for d in manifest.dimensions})
    if not hypertables:
        return ["-- (no hypertables)"]
    lines: list[str] = []
    for hypertable in hypertables:
        state = "compression enabled" if hypertable in manifest.compressed else ""
        lines.append(f"-- hypertable {hypertable}" + (f" ({state})" if state else ""))
        for dimension in manifest.dimensions:
            if dimension.hypertable == hypertable:
                lines.append(f"--   {describe_dimension(dimension)}")
        columns = [c for c in manifest.compression if c.hypertable == hypertable]
        if columns:
            lines.append(f"--   {describe_compression(columns)}")
    return lines


def describe_dimension(dimension: Dimension) -> str:
    if dimension.interval:
        detail = f"chunk interval {dimension.interval}"
    else:
        detail = f"{dimension.partitions} partitions"
    if dimension.integer_now:
        detail += f", integer_now {dimension.integer_now}"
    return (
        f"dimension {dimension.number}: {dimension.column} ({dimension.column_type}), "
        f"{dimension.kind.lower()}, {detail}"
    )


def describe_compression(columns: Sequence[CompressionColumn]) -> str:
    segment_by = sorted(
        (c for c in columns if c.segment_by), key=lambda c: c.segment_by or 0
    )
    order_by = sorted((c for c in columns if c.order_by), key=lambda c: c.order_by or 0)
    ordering = []
    for column in order_by:
        direction = "ASC" if column.ascending else "DESC"
        # NULLS FIRST is the default for DESC, NULLS LAST for ASC: say only a change.
        if column.nulls_first is not None and column.nulls_first == bool(
            column.ascending
        ):
            direction += " NULLS FIRST" if column.nulls_first else " NULLS LAST"
        ordering.append(f"{column.column} {direction}")
    return (
        f"compression: segment by {', '.join(c.column for c in segment_by) or '-'}; "
        f"order by {', '.join(ordering) or '-'}"
    )


def job_lines(jobs: Sequence[Job]) -> list[str]:
    return [
        f"-- job {job.procedure}"
        + (f" on {job.target}" if job.target else "")
        + f", every {job.schedule}"
        + (f", config {job.config}" if job.config else "")
        for job in jobs
    ]


def continuous_aggregate_lines(aggregates: Sequence[ContinuousAggregate]) -> list[str]:
    lines: list[str] = []
    for aggregate in aggregates:
        mode = "materialized only" if aggregate.materialized_only else "real time"
        lines.append(
            f"-- continuous aggregate {aggregate.view} on {aggregate.hypertable} ({mode})"
        )
        lines += [
            f"--   {line.rstrip()}".rstrip()
            for line in aggregate.definition.strip().splitlines()
        ]
    return lines
