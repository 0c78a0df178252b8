"""The TimescaleDB rules of `db.lint`: what squawk cannot know about a revision's SQL.

Statements come from Alembic's offline SQL with their transaction state
(devdb.lint.statements: inside a revision's transaction, or in an
``autocommit_block()``), and are checked
against what was measured on TimescaleDB 2.19.3 (the transaction-block errors,
CONCURRENTLY on hypertables, DDL without a lock_timeout) and against the image
table (Apache-only rows, the oldest TimescaleDB). devdb.lint.run runs them with squawk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.images.table import IMAGES, ImageSpec
from devdb.lint.statements import Statement

if TYPE_CHECKING:
    from devdb.settings import Settings

# The seed plan's hypertables: known even before db/schema.sql or a revision says so.
SEED_HYPERTABLES = (
    "tick_data",
    "candles_1m",
    "foreign_flow",
    "index_snapshots",
    "derivatives",
)

# squawk rules left out, each with why.
SQUAWK_EXCLUDED = (
    # backend/alembic/env.py sets lock_timeout and statement_timeout for every
    # migration session (settings migration_lock_timeout / _statement_timeout);
    # the project's own rule asks for lock_timeout where it matters without env.py.
    "require-lock-timeout",
    "require-statement-timeout",
    # The schema's convention, from the seed plan on: VARCHAR(n) for symbols and
    # codes. What takes the lock is a later resize, and squawk's
    # changing-column-type flags that revision when it comes.
    "prefer-text-field",
)

# squawk's fix for a blocking CREATE INDEX, CONCURRENTLY, fails on a hypertable
# (timescale/timescaledb#504); TimescaleDB's own way for a hypertable instead.
HYPERTABLE_INDEX_WHY = (
    "a plain CREATE INDEX on the hypertable {table} blocks its writes until every "
    "chunk is indexed; squawk's usual fix, CONCURRENTLY, is not supported on "
    "hypertables (timescale/timescaledb#504)"
)
# squawk's help for prefer-robust-stmts can name another case ("an explicit name for
# a concurrently created index"); what it means in a revision with an
# autocommit_block, which is not one transaction.
ROBUST_STATEMENT_FIX = (
    "write it so a re-run steps over what a failed run left: IF NOT EXISTS (IF "
    "EXISTS on a DROP); a revision with an autocommit_block() is not one "
    "transaction, so a failure part way keeps what ran before it"
)
HYPERTABLE_INDEX_FIX = (
    "build it chunk by chunk: CREATE INDEX ... WITH "
    "(timescaledb.transaction_per_chunk), inside "
    "`with op.get_context().autocommit_block():` (the revision template shows it)"
)


@dataclass(frozen=True)
class Finding:
    """One problem: where, which rule, why it fails, and what to do instead."""

    path: str
    line: int
    rule: str
    why: str
    fix: str
    # True when the line is the offline SQL's: the statement's text is built in
    # the revision file in a way a text search cannot follow.
    sql_line: bool = False

    def render(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.sql_line:
            where += " (line of `invoke db.upgrade --sql` output)"
        return f"{where}: {self.rule}\n    why: {self.why}\n    fix: {self.fix}"


# --- the TimescaleDB rules -----------------------------------------------------------


@dataclass(frozen=True)
class LintContext:
    """What the rules need to know beyond the statement itself."""

    hypertables: frozenset[str]
    apache_rows: tuple[str, ...]  # image rows whose TimescaleDB may be Apache-only
    oldest_timescaledb: tuple[int, int] | None  # the image table's oldest, known
    oldest_row: str = ""
    # Hypertables with compression enabled (the committed manifest says so, or
    # the linted SQL turns it on): some DDL fails on them.
    compressed: frozenset[str] = frozenset()


AUTOCOMMIT_FIX = (
    "run it in `with op.get_context().autocommit_block():` (see the revision "
    "template), with the same in the downgrade"
)
CONTINUOUS_AGGREGATE = re.compile(
    r"CREATE MATERIALIZED VIEW .*\bWITH \((?:[^)]*\b)?(?:TIMESCALEDB|TSDB)\.CONTINUOUS\b"
)
TSL_ONLY = re.compile(
    r"\b(?:TIMESCALEDB|TSDB)\.(?:CONTINUOUS|COMPRESS\w*|ENABLE_COLUMNSTORE|SEGMENTBY|ORDERBY)\b"
    r"|\b(?:COMPRESS_CHUNK|DECOMPRESS_CHUNK|ADD_COMPRESSION_POLICY|"
    r"ADD_RETENTION_POLICY|ADD_CONTINUOUS_AGGREGATE_POLICY|ADD_REORDER_POLICY|"
    r"ADD_COLUMNSTORE_POLICY|CONVERT_TO_COLUMNSTORE|CONVERT_TO_ROWSTORE|ADD_JOB|"
    r"REFRESH_CONTINUOUS_AGGREGATE)\s*\("
)
# Constructs and the TimescaleDB release that brought them (its release notes).
NEWER_CONSTRUCTS: tuple[tuple[re.Pattern[str], tuple[int, int], str], ...] = (
    (
        re.compile(r"CREATE TABLE .*\bWITH \(.*\b(?:TSDB|TIMESCALEDB)\.HYPERTABLE\b"),
        (2, 20),
        "CREATE TABLE ... WITH (tsdb.hypertable)",
    ),
    (re.compile(r"\bTSDB\.\w+"), (2, 20), "the tsdb.* option names"),
    (
        re.compile(
            r"\b(?:ADD_COLUMNSTORE_POLICY|CONVERT_TO_COLUMNSTORE|CONVERT_TO_ROWSTORE)\s*\("
            r"|\bTIMESCALEDB\.ENABLE_COLUMNSTORE\b"
        ),
        (2, 18),
        "the columnstore API",
    ),
)


def indexed_table(text: str) -> str | None:
    """The table a normalised CREATE INDEX statement indexes, lower case."""
    return _table_after(r"CREATE (?:UNIQUE )?INDEX .*?\bON", text)


def _table_after(pattern: str, text: str) -> str | None:
    match = re.search(pattern + r'\s+(?:IF EXISTS\s+)?(?:ONLY\s+)?([\w."]+)', text)
    if match is None:
        return None
    return match.group(1).split(".")[-1].strip('"').lower()


def rule_findings(
    statement: Statement, context: LintContext
) -> list[tuple[str, str, str]]:
    """(rule, why, fix) for each TimescaleDB rule the statement breaks."""
    text = statement.normalised
    found: list[tuple[str, str, str]] = []
    if (
        statement.in_transaction
        and CONTINUOUS_AGGREGATE.search(text)
        and not text.endswith("WITH NO DATA")
    ):
        found.append(
            (
                "timescaledb-cagg-with-data-in-transaction",
                "a continuous aggregate created WITH DATA (the default) inside a "
                "transaction block fails with 25001, and Alembic runs every revision "
                "in one",
                AUTOCOMMIT_FIX + "; or end it WITH NO DATA and refresh it in an "
                "autocommit_block",
            )
        )
    if statement.in_transaction and re.search(
        r"\bCALL (?:\w+\.)?REFRESH_CONTINUOUS_AGGREGATE\s*\(", text
    ):
        found.append(
            (
                "timescaledb-refresh-in-transaction",
                "CALL refresh_continuous_aggregate() cannot run inside a transaction "
                "block (25001), and Alembic runs every revision in one",
                AUTOCOMMIT_FIX,
            )
        )
    index_table = indexed_table(text)
    if "CONCURRENTLY" in text and index_table in context.hypertables:
        found.append(
            (
                "timescaledb-concurrently-on-hypertable",
                f"CREATE INDEX CONCURRENTLY is not supported on the hypertable "
                f"{index_table} (timescale/timescaledb#504)",
                "build it chunk by chunk instead: CREATE INDEX ... WITH "
                "(timescaledb.transaction_per_chunk), in an autocommit_block",
            )
        )
    if statement.in_transaction and "TIMESCALEDB.TRANSACTION_PER_CHUNK" in text:
        found.append(
            (
                "timescaledb-per-chunk-index-in-transaction",
                "an index WITH (timescaledb.transaction_per_chunk) commits once per "
                "chunk, so it cannot run inside the revision's transaction block",
                AUTOCOMMIT_FIX,
            )
        )
    if context.apache_rows and TSL_ONLY.search(text):
        found.append(
            (
                "timescaledb-tsl-only",
                "compression, continuous aggregates and policies need the "
                "Timescale-License build; the image row(s) "
                f"{', '.join(context.apache_rows)} may carry an Apache-only "
                "TimescaleDB (Debian's packages do), where this fails with 0A000",
                "run the step only where current_setting('timescaledb.license') = "
                "'timescale' (a DO block), keep the revision to Apache features, or "
                "record the rows' licence in devdb/images/table.py (licence='timescale')",
            )
        )
    if context.oldest_timescaledb is not None:
        for pattern, since, what in NEWER_CONSTRUCTS:
            if pattern.search(text) and since > context.oldest_timescaledb:
                oldest = ".".join(map(str, context.oldest_timescaledb))
                found.append(
                    (
                        "timescaledb-newer-than-oldest-image",
                        f"{what} needs TimescaleDB {since[0]}.{since[1]}, but the "
                        f"image table's oldest is {oldest} ({context.oldest_row})",
                        "use the older form (create_hypertable(), "
                        "ALTER TABLE ... SET (timescaledb.*)), or drop that row "
                        "from devdb/images/table.py",
                    )
                )
                break
    altered = _table_after(r"^ALTER TABLE", text)
    if altered in context.hypertables and not statement.lock_timeout_set:
        found.append(
            (
                "timescaledb-ddl-without-lock-timeout",
                f"ALTER TABLE on the hypertable {altered} takes an ACCESS EXCLUSIVE "
                "lock on it and every chunk; behind a long query it queues every "
                "reader and writer. env.py sets a lock_timeout online, but the "
                "revision's SQL also runs without it (docker-compose init files, "
                "`alembic upgrade --sql`)",
                "op.execute(\"SET LOCAL lock_timeout = '5s'\") before it, in the "
                "same transaction",
            )
        )
    if altered in context.compressed and ALTER_COLUMN_TYPE.search(text):
        found.append(
            (
                "timescaledb-ddl-on-compressed-hypertable",
                f"{altered} has compression enabled: changing a column's type fails "
                "there (0A000 operation not supported on hypertables that have "
                "compression enabled), and only a database with compressed data "
                "shows it",
                "make a compression-safe change (a new column, filled from the old "
                "one), or decompress its chunks and turn compression off first, "
                "in the same revision",
            )
        )
    return found


ALTER_COLUMN_TYPE = re.compile(r"\bALTER (?:COLUMN )?[\w\"]+ (?:SET DATA )?TYPE\b")
COMPRESSION_ON = re.compile(
    r"ALTER TABLE (?:ONLY )?([\w.\"]+) SET \([^)]*TIMESCALEDB\.COMPRESS\b(?!_)"
)
MANIFEST_COMPRESSED = re.compile(
    r"^-- hypertable (?:\w+\.)?(\w+) \(compression enabled\)", re.MULTILINE
)


def compressed_hypertables(
    schema_file: Path, sql_texts: Iterable[str]
) -> frozenset[str]:
    """Hypertables the committed manifest or the linted SQL gives compression."""
    names: set[str] = set()
    if schema_file.is_file():
        names.update(
            MANIFEST_COMPRESSED.findall(schema_file.read_text(encoding="utf-8"))
        )
    for sql in sql_texts:
        names.update(
            name.split(".")[-1].strip('"').lower()
            for name in COMPRESSION_ON.findall(sql.upper())
        )
    return frozenset(names)


# --- the image table, read as data ---------------------------------------------------


def row_licence(spec: ImageSpec) -> str | None:
    """The row's TimescaleDB licence if the image table records one, else None."""
    for name in ("licence", "license", "edition"):
        value = getattr(spec, name, None)
        if isinstance(value, str) and value:
            return value.lower()
    return None


def apache_rows(rows: Iterable[ImageSpec] = IMAGES) -> tuple[str, ...]:
    """Rows whose TimescaleDB may be Apache-only: said so, or not said at all."""
    return tuple(
        spec.id
        for spec in rows
        if spec.timescaledb is not None
        # "timescale" is what timescaledb.license says on a full build; "none"
        # marks a row without TimescaleDB.
        and (row_licence(spec) or "apache") not in ("timescale", "tsl", "none")
    )


def oldest_timescaledb(
    rows: Iterable[ImageSpec] = IMAGES,
) -> tuple[tuple[int, int] | None, str]:
    """The oldest (major, minor) TimescaleDB the table names, and its row.

    A row naming only a major version ("2.", a suite that moves) says nothing
    about its minor, so it does not count.
    """
    known: list[tuple[tuple[int, int], str]] = []
    for spec in rows:
        parts = (spec.timescaledb or "").split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            known.append(((int(parts[0]), int(parts[1])), spec.id))
    if not known:
        return None, ""
    return min(known)


HYPERTABLE_CALL = re.compile(r"CREATE_HYPERTABLE\s*\(\s*'([\w.\"]+)'")
MANIFEST_HYPERTABLE = re.compile(r"^-- hypertable (?:\w+\.)?(\w+)", re.MULTILINE)


def known_hypertables(schema_file: Path, sql_texts: Iterable[str]) -> frozenset[str]:
    """The seed's, the committed dump's manifest's, and those the linted SQL creates."""
    names = set(SEED_HYPERTABLES)
    if schema_file.is_file():
        names.update(
            MANIFEST_HYPERTABLE.findall(schema_file.read_text(encoding="utf-8"))
        )
    for sql in sql_texts:
        upper = sql.upper()
        names.update(
            n.split(".")[-1].strip('"').lower() for n in HYPERTABLE_CALL.findall(upper)
        )
        for match in re.finditer(
            r"CREATE TABLE (?:IF NOT EXISTS )?([\w.\"]+)[^;]*?(?:TSDB|TIMESCALEDB)\.HYPERTABLE",
            upper,
        ):
            names.add(match.group(1).split(".")[-1].strip('"').lower())
    return frozenset(names)


def default_context(settings: Settings, sql_texts: Iterable[str]) -> LintContext:
    oldest, row = oldest_timescaledb()
    sql_texts = list(sql_texts)
    return LintContext(
        compressed=compressed_hypertables(settings.schema_file, sql_texts),
        hypertables=known_hypertables(settings.schema_file, sql_texts),
        apache_rows=apache_rows(),
        oldest_timescaledb=oldest,
        oldest_row=row,
    )
