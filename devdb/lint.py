"""`db.lint`: the revisions' SQL checked before any database runs it.

Each revision's SQL comes from Alembic's offline mode (``alembic upgrade A:B
--sql``, as ``devdb.init_sql.offline_sql`` gets it), so what is checked is what
would run, and the transaction state is visible in it: Alembic writes ``BEGIN;``
and ``COMMIT;`` around each revision, and ``COMMIT;`` ... ``BEGIN;`` around an
``autocommit_block()``. Two checkers read that SQL:

- squawk (PyPI ``squawk-cli``), PostgreSQL's migration linter, on the upgrade SQL;
  its advice to use ``CONCURRENTLY`` is dropped for an index built with
  ``timescaledb.transaction_per_chunk`` (CONCURRENTLY is not supported on
  hypertables: timescale/timescaledb#504);
- this project's TimescaleDB rules (``RULES``), on upgrade and downgrade SQL: what
  squawk cannot know, from the transaction-block errors measured on 2.19.3 to the
  image table's oldest TimescaleDB and Apache-only rows.

A finding names the revision file and line (the statement's text is looked up in
the .py file; the offline SQL's line when it cannot be found), the rule, why it
fails and the fix. Released revisions are not linted unless asked: they never
change, so their findings could only be fixed by a new revision.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.console import note
from devdb.errors import DevDbError
from devdb.files import shown
from devdb.images import IMAGES, ImageSpec
from devdb.init_sql import offline_sql
from devdb.revisions import is_released, read_revisions

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


@dataclass(frozen=True)
class Statement:
    """One SQL statement of the offline output, with the state it runs in."""

    text: str
    line: int  # 1-based, in the offline SQL
    in_transaction: bool
    lock_timeout_set: bool

    @property
    def normalised(self) -> str:
        """Upper case, comments dropped, whitespace collapsed: what rules match."""
        without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", " ", self.text, flags=re.S)
        return " ".join(without_comments.split()).upper()


DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")


def split_statements(sql: str) -> list[tuple[str, int]]:
    """The statements of ``sql`` and the line each starts on.

    Quotes, quoted identifiers, dollar-quoted bodies and comments are skipped over,
    so a ``;`` inside a function body does not end the statement.
    """
    statements: list[tuple[str, int]] = []
    start, index, length = 0, 0, len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            end = sql.find(char, index + 1)
            while end != -1 and sql[end + 1 : end + 2] == char:
                end = sql.find(char, end + 2)  # a doubled quote is an escaped one
            index = length if end == -1 else end + 1
        elif sql.startswith("--", index):
            end = sql.find("\n", index)
            index = length if end == -1 else end + 1
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = length if end == -1 else end + 2
        elif char == "$" and (tag := DOLLAR_TAG.match(sql, index)):
            end = sql.find(tag.group(), tag.end())
            index = length if end == -1 else end + len(tag.group())
        elif char == ";":
            _add_statement(statements, sql, start, index)
            start = index = index + 1
        else:
            index += 1
    _add_statement(statements, sql, start, length)
    return statements


def _add_statement(
    statements: list[tuple[str, int]], sql: str, start: int, end: int
) -> None:
    chunk = sql[start:end]
    # Skip leading blank lines and comment-only lines ("-- Running upgrade ...").
    lines = chunk.split("\n")
    offset = 0
    while offset < len(lines) and (
        not lines[offset].strip() or lines[offset].strip().startswith("--")
    ):
        offset += 1
    text = "\n".join(lines[offset:]).strip()
    if text:
        statements.append((text, sql.count("\n", 0, start) + offset + 1))


SET_LOCK_TIMEOUT = re.compile(
    r"^(SET (?P<local>LOCAL |SESSION )?LOCK_TIMEOUT\b|SELECT SET_CONFIG\('LOCK_TIMEOUT')"
)


def annotate(sql: str) -> list[Statement]:
    """Each statement with whether it runs in a transaction and under a lock_timeout."""
    result: list[Statement] = []
    in_transaction = session_timeout = local_timeout = False
    for text, line in split_statements(sql):
        words = " ".join(text.split()).upper()
        if words in ("BEGIN", "START TRANSACTION", "BEGIN TRANSACTION"):
            in_transaction = True
        elif words in ("COMMIT", "END", "ROLLBACK", "COMMIT TRANSACTION"):
            in_transaction = local_timeout = False
        elif match := SET_LOCK_TIMEOUT.match(words):
            if match.group("local") == "LOCAL " or words.endswith("TRUE)"):
                local_timeout = True
            else:
                session_timeout = True
        result.append(
            Statement(text, line, in_transaction, session_timeout or local_timeout)
        )
    return result


# --- the TimescaleDB rules -----------------------------------------------------------


@dataclass(frozen=True)
class LintContext:
    """What the rules need to know beyond the statement itself."""

    hypertables: frozenset[str]
    apache_rows: tuple[str, ...]  # image rows whose TimescaleDB may be Apache-only
    oldest_timescaledb: tuple[int, int] | None  # the image table's oldest, known
    oldest_row: str = ""


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
    index_table = _table_after(r"CREATE (?:UNIQUE )?INDEX .*?\bON", text)
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
                "record the rows' licence in devdb/images.py (licence='timescale')",
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
                        "from devdb/images.py",
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
    return found


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
    return LintContext(
        hypertables=known_hypertables(settings.schema_file, sql_texts),
        apache_rows=apache_rows(),
        oldest_timescaledb=oldest,
        oldest_row=row,
    )


# --- from statements back to the revision file ---------------------------------------


class LineFinder:
    """Where a statement's text is in the revision file, searched in order."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.cursor = 0

    def find(self, statement: str) -> int | None:
        first = " ".join(statement.splitlines()[0].split())
        # A statement split over Python string literals matches by its longest prefix.
        for size in (len(first), 60, 40, 24):
            probe = first[:size]
            if len(probe) < 12 and size != len(first):
                continue
            for start in (self.cursor, 0):
                for number in range(start, len(self.lines)):
                    if probe and probe in " ".join(self.lines[number].split()):
                        self.cursor = number + 1
                        return number + 1
        return None


# --- squawk --------------------------------------------------------------------------


def squawk_binary() -> str:
    found = shutil.which("squawk")
    if found is None:
        # The venv's bin directory is not always on PATH (`.venv/bin/invoke ...`).
        candidate = Path(sys.executable).parent / "squawk"
        if candidate.is_file():
            return str(candidate)
        raise DevDbError(
            "squawk is not installed, and db.lint runs it",
            "install the toolkit's requirements: .venv/bin/pip install -r requirements.txt",
        )
    return found


def run_squawk(sql_files: list[Path]) -> list[dict[str, object]]:
    """squawk's findings over the files (its JSON reporter), or a DevDbError."""
    if not sql_files:
        return []
    command = [
        squawk_binary(),
        "--reporter",
        "json",
        f"--exclude={','.join(SQUAWK_EXCLUDED)}",
        *map(str, sql_files),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    try:
        parsed = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise DevDbError(
            f"squawk failed: {reason[0] if reason else f'exit {completed.returncode}'}",
            "run it by hand on the revision's SQL (`invoke db.upgrade --sql`) to see why",
        ) from None
    return [item for item in parsed if isinstance(item, dict)]


# --- putting it together -------------------------------------------------------------


@dataclass(frozen=True)
class RevisionSql:
    revision: str
    path: Path
    upgrade: str
    downgrade: str


def lint_sql(
    sql: str,
    context: LintContext,
    locate: Callable[[Statement], tuple[str, int, bool]] | None = None,
) -> list[Finding]:
    """The TimescaleDB rules over one piece of offline SQL.

    ``locate`` turns a statement into (path, line, is the SQL's line); without
    it, the SQL's line.
    """
    findings: list[Finding] = []
    for statement in annotate(sql):
        if "ALEMBIC_VERSION" in statement.normalised:
            continue  # Alembic's own bookkeeping
        for rule, why, fix in rule_findings(statement, context):
            path, line, sql_line = (
                locate(statement) if locate else ("<sql>", statement.line, True)
            )
            findings.append(Finding(path, line, rule, why, fix, sql_line))
    return findings


def locator(
    revision_file: Path, source: str
) -> Callable[[Statement], tuple[str, int, bool]]:
    """Statements -> the revision file's line, else the offline SQL's (said so)."""
    finder = LineFinder(source)
    name = shown(revision_file)

    def locate(statement: Statement) -> tuple[str, int, bool]:
        line = finder.find(statement.text)
        if line is None:
            return name, statement.line, True
        return name, line, False

    return locate


def squawk_findings(revisions: list[RevisionSql], directory: Path) -> list[Finding]:
    files: dict[str, RevisionSql] = {}
    for revision in revisions:
        sql_file = directory / f"{revision.path.stem}.sql"
        sql_file.write_text(revision.upgrade, encoding="utf-8")
        files[str(sql_file)] = revision
    findings: list[Finding] = []
    finders = {
        key: LineFinder(rev.path.read_text(encoding="utf-8"))
        for key, rev in files.items()
    }
    statements = {key: annotate(rev.upgrade) for key, rev in files.items()}
    for item in sorted(
        run_squawk([Path(key) for key in files]),
        key=lambda item: (str(item.get("file")), int(str(item.get("line", 0)))),
    ):
        key = str(item.get("file"))
        if key not in files:
            continue
        line = int(str(item.get("line", 0))) + 1  # squawk counts lines from 0
        statement = next((s for s in reversed(statements[key]) if s.line <= line), None)
        rule = str(item.get("rule_name", "squawk"))
        if statement is not None:
            text = statement.normalised
            if "ALEMBIC_VERSION" in text:
                continue
            if (
                rule == "require-concurrent-index-creation"
                and "TIMESCALEDB.TRANSACTION_PER_CHUNK" in text
            ):
                continue  # CONCURRENTLY is not supported on hypertables (#504)
        where = finders[key].find(statement.text) if statement else None
        findings.append(
            Finding(
                shown(files[key].path),
                line if where is None else where,
                f"squawk/{rule}",
                str(item.get("message", "")),
                str(item.get("help") or "see https://squawkhq.com/docs/" + rule),
                sql_line=where is None,
            )
        )
    return findings


def revision_sql(settings: Settings, include_released: bool) -> list[RevisionSql]:
    """The offline upgrade and downgrade SQL of each revision to lint, oldest first."""
    result: list[RevisionSql] = []
    for script in read_revisions(settings.script_location)[0]:
        if not script.path:
            continue
        path = Path(script.path)
        if not include_released and is_released(
            path, settings.project_root, settings.release_branch
        ):
            continue
        below = script.down_revision
        if not isinstance(below, str | None):
            continue  # a merge revision holds no SQL of its own
        up_target = f"{below}:{script.revision}" if below else script.revision
        down_target = f"{script.revision}:{below or 'base'}"
        result.append(
            RevisionSql(
                script.revision,
                path,
                offline_sql(settings, "upgrade", up_target),
                offline_sql(settings, "downgrade", down_target),
            )
        )
    return result


def lint_revisions(
    settings: Settings, *, include_released: bool = False
) -> tuple[int, list[Finding]]:
    """How many revisions were linted, and every finding, in file order."""
    revisions = revision_sql(settings, include_released)
    context = default_context(settings, [r.upgrade for r in revisions])
    findings: list[Finding] = []
    for revision in revisions:
        source = revision.path.read_text(encoding="utf-8")
        for sql in (revision.upgrade, revision.downgrade):
            findings.extend(lint_sql(sql, context, locator(revision.path, source)))
    with tempfile.TemporaryDirectory(prefix="devdb-lint-") as directory:
        findings.extend(squawk_findings(revisions, Path(directory)))
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return len(revisions), findings


def lint(settings: Settings, *, include_released: bool = False) -> list[str]:
    """Lint the revisions; the lines to print when clean, a DevDbError when not."""
    count, findings = lint_revisions(settings, include_released=include_released)
    if not findings:
        scope = "revision(s)" if include_released else "unreleased revision(s)"
        return [f"db.lint: {count} {scope} checked, no findings"]
    for finding in findings:
        note(finding.render())
    files = len({finding.path for finding in findings})
    raise DevDbError(
        f"db.lint found {len(findings)} problem(s) in {files} revision file(s)",
        "fix each as its 'fix' line says, then run `invoke db.lint` again",
    )
