"""What a downgrade would undo, and the rows it would take with it.

Measured on the database before the guard (``devdb.safety``) asks: the undone
revisions' downgrade SQL is rendered offline and every relation holding rows whose
name it mentions counts; a continuous aggregate counts with the rows it has
materialised (they may exist nowhere else once a retention policy dropped the raw
ones), a hypertable with every row of its chunks, compressed or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.schema.revisions import script_directory

if TYPE_CHECKING:
    from alembic.script import Script
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings


RELATIVE_DOWNGRADE = re.compile(r"(?P<anchor>[^+@]*?)-(?P<steps>\d+)")
# Schemas whose tables belong to PostgreSQL or TimescaleDB, not to the project: a
# hypertable's rows are counted on the hypertable itself, not on its chunks.
# The toolkit's own journal of applied revision files (devdb.schema.journal) is
# kept in step by every migration, never lost by one.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "devdb_journal")
SYSTEM_SCHEMA_PREFIXES = ("_timescaledb", "timescaledb_", "pg_temp", "pg_toast_temp")
# Counting stops here: enough to say "a lot", without scanning a big table whole.
ROW_COUNT_CAP = 1_000_000
# Downgrade SQL that can lose rows in tables it does not name: every table counts.
UNBOUNDED_SQL = re.compile(
    r"\b(CASCADE|DROP\s+SCHEMA|DROP\s+OWNED|DROP\s+EXTENSION|EXECUTE|DO)\b",
    re.IGNORECASE,
)


def check_downgrade_target(target: str) -> None:
    """Refuse targets whose landing place the guard could not work out."""
    if "@" in target or "+" in target:
        raise DevDbError(
            f"db.downgrade does not take the target '{target}'",
            "name a revision id, 'base', or a relative target such as -1 or 001-1",
        )


def lands_on_base(settings: Settings, target: str) -> bool:
    """Whether downgrading to ``target`` would undo every revision.

    Alembic accepts 'base', a revision id, and relative targets: '-2' (from the
    database's revision), '001-1', 'head-1', 'heads-1'. Each relative one is walked
    down the revision files here, so none slips past the guard. Branch ('x@-1') and
    '+N' targets are refused: the guard could not tell where they land. Only a bare
    '-N' needs the database (its revision is the anchor).
    """
    if target == "base":
        return True
    check_downgrade_target(target)
    relative = RELATIVE_DOWNGRADE.fullmatch(target)
    if relative is None:
        return False  # an absolute revision id: Alembic checks it exists
    script = script_directory(settings.script_location)
    anchor = relative.group("anchor")
    if anchor in ("head", "heads"):
        start: str | None = script.get_current_head()
    elif anchor:
        start = anchor
    else:
        revisions = migrations.current(settings)
        start = revisions[0] if revisions else None
    from alembic.util import CommandError  # lazy: see devdb.schema.revisions

    for _ in range(int(relative.group("steps"))):
        if start is None:
            return True
        try:
            below = script.get_revision(start)
        except CommandError:
            return False  # an unknown anchor: the downgrade itself reports it
        if below is None:
            return True
        # A merge has no single step down: treated as reaching base, so it asks.
        start = below.down_revision if isinstance(below.down_revision, str) else None
    return start is None


def visibly_base(settings: Settings, target: str) -> bool:
    """Whether the revision files alone show ``target`` reaches base ('base',
    '001-1', 'head-1'); only words a refusal given before connecting."""
    relative = RELATIVE_DOWNGRADE.fullmatch(target)
    if target == "base" or (relative is not None and relative.group("anchor")):
        return lands_on_base(settings, target)
    return False


@dataclass(frozen=True)
class DataAtRisk:
    """What a downgrade would undo, and the rows it would take with it."""

    undone: tuple[str, ...]
    # (schema.table, rows) for tables holding rows the undone revisions may drop;
    # rows == ROW_COUNT_CAP means "at least that many".
    tables: tuple[tuple[str, int], ...]
    to_base: bool

    def describe(self) -> str:
        shown = ", ".join(
            f"{name} ({'over ' if rows >= ROW_COUNT_CAP else ''}{rows} "
            f"row{'' if rows == 1 else 's'})"
            for name, rows in self.tables
        )
        return shown or "no rows"


def tables_with_rows(connection: Connection) -> dict[str, int]:
    """Every user table that holds rows, with its row count (capped).

    A hypertable counts every row of its chunks, compressed ones included (a
    scan of the hypertable reads them); a continuous aggregate counts the rows
    it has materialised, which live in a hypertable of TimescaleDB's own schema.
    """
    from sqlalchemy import text

    from devdb.database import quote_identifier

    names = connection.execute(
        text(
            "SELECT n.nspname, c.relname, n.nspname, c.relname FROM pg_class c"
            "  JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'm')"
            "   AND NOT c.relispartition"
            "   AND c.relname <> 'alembic_version'"
            " ORDER BY 1, 2"
        )
    ).all()
    relations = [
        tuple(row)
        for row in names
        if not (row[0] in SYSTEM_SCHEMAS or row[0].startswith(SYSTEM_SCHEMA_PREFIXES))
    ]
    relations += continuous_aggregates(connection)
    counts: dict[str, int] = {}
    for schema, name, data_schema, data_table in relations:
        qualified = f"{quote_identifier(data_schema)}.{quote_identifier(data_table)}"
        rows = connection.execute(
            text(
                f"SELECT count(*) FROM (SELECT 1 FROM {qualified}"
                f" LIMIT {ROW_COUNT_CAP}) AS capped"
            )
        ).scalar_one()
        if rows:
            counts[f"{schema}.{name}"] = int(rows)
    connection.commit()
    return counts


def continuous_aggregates(connection: Connection) -> list[tuple[str, ...]]:
    """(view schema, view name, data schema, data table) of every continuous
    aggregate; none where TimescaleDB is not installed."""
    from sqlalchemy import text

    view = "timescaledb_information.continuous_aggregates"
    if connection.execute(text(f"SELECT to_regclass('{view}')")).scalar() is None:
        return []
    return [
        tuple(row)
        for row in connection.execute(
            text(
                "SELECT view_schema, view_name, materialization_hypertable_schema,"
                f"       materialization_hypertable_name FROM {view} ORDER BY 1, 2"
            )
        ).all()
    ]


def downgrade_sql(undone: list[Script]) -> str | None:
    """The SQL the undone revisions' downgrade() would run, or None if unknown.

    Each revision's downgrade() runs against Alembic's offline (as-SQL) context, as
    `alembic downgrade --sql` would, so nothing touches the database. A revision that
    needs a live connection (op.get_bind()) cannot be rendered: None.
    """
    import io

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    try:
        with Operations.context(context):
            for script in undone:
                script.module.downgrade()
    except Exception:  # any failure only means "could not tell": count every table
        return None
    return buffer.getvalue()


def mentioned(table: str, sql: str) -> bool:
    """Whether the downgrade SQL names ``table`` (schema-qualified or not)."""
    name = table.partition(".")[2]
    return any(
        re.search(rf"(?<![\w$]){re.escape(spelled)}(?![\w$])", sql, re.IGNORECASE)
        for spelled in (name, f'"{name}"')
    )


def data_at_risk(settings: Settings, target: str) -> DataAtRisk:
    """What downgrading the database to ``target`` would undo and which rows it
    would put at risk.

    Which tables: the undone revisions' downgrade SQL is rendered offline and every
    table holding rows whose name it mentions counts. That follows what the SQL
    really does (a revision adding an index drops no rows, one dropping a table
    does) without a copy of the database. When the SQL cannot be rendered, or it
    can reach tables it does not name (CASCADE, DROP SCHEMA / EXTENSION / OWNED,
    dynamic SQL in DO/EXECUTE), or the target is base, every table with rows counts:
    the guard errs towards asking.
    """
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    from devdb.database import connect
    from devdb.schema.revisions import database_revisions

    check_downgrade_target(target)
    script = script_directory(settings.script_location)
    with connect(settings) as connection:
        current = database_revisions(connection)
        if not current:
            return DataAtRisk((), (), False)  # at base: nothing to undo, no rows lost
        try:
            undone = list(
                script.iterate_revisions(current, target, select_for_downgrade=True)
            )
        except (CommandError, RevisionError) as error:
            raise DevDbError(
                f"cannot downgrade from {' '.join(current) or 'base'} to "
                f"'{target}': {str(error).splitlines()[0]}",
                "`invoke db.history` lists the revisions; `invoke db.current` shows "
                "where the database is",
            ) from None
        if not undone:
            return DataAtRisk((), (), False)
        counts = tables_with_rows(connection)
    remaining = {
        below
        for script_revision in undone
        for below in _down_revisions(script_revision)
    } - {r.revision for r in undone}
    to_base = not remaining
    sql = None if to_base else downgrade_sql(undone)
    if sql is None or UNBOUNDED_SQL.search(sql):
        at_risk = counts
    else:
        at_risk = {name: rows for name, rows in counts.items() if mentioned(name, sql)}
    return DataAtRisk(
        tuple(r.revision for r in undone), tuple(sorted(at_risk.items())), to_base
    )


def _down_revisions(script_revision: Script) -> tuple[str, ...]:
    down = script_revision.down_revision
    if down is None:
        return ()
    return (down,) if isinstance(down, str) else tuple(down)
