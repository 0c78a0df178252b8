"""`db.lint`: the revisions' SQL checked before any database runs it.

Each revision's SQL comes from Alembic's offline mode (``alembic upgrade A:B
--sql``, as ``devdb.schema.init_sql.offline_sql`` gets it), so what is checked is what
would run, and the transaction state is visible in it: Alembic writes ``BEGIN;``
and ``COMMIT;`` around each revision, and ``COMMIT;`` ... ``BEGIN;`` around an
``autocommit_block()``. Two checkers read that SQL:

- squawk (PyPI ``squawk-cli``), PostgreSQL's migration linter, on the upgrade SQL;
  its advice to use ``CONCURRENTLY`` becomes TimescaleDB's for an index on a
  hypertable (CONCURRENTLY is not supported there: timescale/timescaledb#504),
  and is dropped for an index already built with
  ``timescaledb.transaction_per_chunk``;
- this project's TimescaleDB rules (``RULES``), on upgrade and downgrade SQL: what
  squawk cannot know, from the transaction-block errors measured on 2.19.3 to the
  image table's oldest TimescaleDB and Apache-only rows.

A finding names the revision file and line (the statement's text is looked up in
the .py file; the offline SQL's line when it cannot be found), the rule, why it
fails and the fix. Released revisions are not linted unless asked: they never
change, so their findings could only be fixed by a new revision.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.console import note
from devdb.errors import DevDbError
from devdb.files import shown
from devdb.schema.init_sql import offline_sql
from devdb.schema.revisions import is_released, read_revisions

if TYPE_CHECKING:
    from devdb.settings import Settings

from devdb.lint.rules import (
    HYPERTABLE_INDEX_FIX,
    HYPERTABLE_INDEX_WHY,
    ROBUST_STATEMENT_FIX,
    Finding,
    LintContext,
    default_context,
    indexed_table,
    rule_findings,
)
from devdb.lint.squawk import run_squawk
from devdb.lint.statements import Statement, annotate

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


def squawk_findings(
    revisions: list[RevisionSql], directory: Path, context: LintContext
) -> list[Finding]:
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
        why = str(item.get("message", ""))
        fix = str(item.get("help") or "see https://squawkhq.com/docs/" + rule)
        if statement is not None:
            text = statement.normalised
            if "ALEMBIC_VERSION" in text:
                continue
            if rule == "require-concurrent-index-creation":
                if "TIMESCALEDB.TRANSACTION_PER_CHUNK" in text:
                    continue  # the hypertable's non-blocking way, already taken
                table = indexed_table(text)
                if table in context.hypertables:
                    why = HYPERTABLE_INDEX_WHY.format(table=table)
                    fix = HYPERTABLE_INDEX_FIX
            elif rule == "prefer-robust-stmts":
                fix = ROBUST_STATEMENT_FIX
        where = finders[key].find(statement.text) if statement else None
        findings.append(
            Finding(
                shown(files[key].path),
                line if where is None else where,
                f"squawk/{rule}",
                why,
                fix,
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
        findings.extend(squawk_findings(revisions, Path(directory), context))
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
