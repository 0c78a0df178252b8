"""The dev database's journal: which file each applied revision came from.

``alembic_version`` holds one id, and an id says nothing of the file behind it: on a
branch whose ``002`` is another file than the one applied, Alembic says "at head"
while the database holds the other branch's schema. So the dev database (never a
database named by DATABASE_URL, never a throwaway) keeps, in its own schema
``devdb_journal`` (left out of the schema dump), one row per applied revision: the
file's name, its sha256 and whole source, the branch it was applied from, and
when. Rows are written by env.py in the same transaction as the revision itself,
so the journal and ``alembic_version`` cannot disagree.

The recorded source is also the way back: a revision whose file is gone from this
branch is undone by running its own downgrade() from the recorded file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devdb.schema.collisions import RevisionFile

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings

SCHEMA = "devdb_journal"
TABLE = f"{SCHEMA}.applied_revisions"
CREATE = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        revision   text PRIMARY KEY,
        file_name  text NOT NULL,
        sha256     text NOT NULL,
        source     text NOT NULL,
        branch     text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        stamped    boolean NOT NULL DEFAULT false
    )""",
    # What the revision's downgrade() runs, rendered as `alembic downgrade --sql`
    # would (NULL when it needs a live connection): readable without the file.
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS downgrade_sql text",
    f"COMMENT ON SCHEMA {SCHEMA} IS 'the devdb toolkit: which revision file each "
    "applied revision came from (dev database only)'",
)


def source_digest(source: str) -> str:
    # As db/alembic.sum counts it: CRLF from a Windows checkout is not a change.
    return hashlib.sha256(source.replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """One journal row: a revision as it was applied."""

    revision: str
    file_name: str
    sha256: str
    source: str
    branch: str
    applied_at: datetime
    stamped: bool
    downgrade_sql: str | None = None


def current_branch(project_root: Path) -> str:
    """The checked-out branch, or the short commit when none is (a rebase)."""
    from devdb.errors import DevDbError
    from devdb.schema.released import git

    try:
        branch = git(project_root, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        if branch.strip():
            return branch.strip()
        commit = git(project_root, "rev-parse", "--short", "HEAD", check=False)
    except DevDbError:  # no git here: the journal still records the file
        return "unknown"
    return f"detached at {commit.strip()}" if commit.strip() else "unknown"


class JournalRecorder:
    """Alembic's ``on_version_apply`` callback that keeps the journal in step.

    After every step the journal holds exactly the revisions below the new heads:
    an upgrade records the file it ran, a downgrade forgets the revision it undid,
    a stamp records what it claims (as ``stamped``: nobody saw that SQL run).
    """

    def __init__(self, project_root: Path) -> None:
        self.branch = current_branch(project_root)
        self.ready = False

    def __call__(self, *, ctx: Any, step: Any, heads: set[str], run_args: Any) -> None:
        connection = ctx.connection
        if not self.ready:
            for statement in CREATE:
                connection.exec_driver_sql(statement)
            self.ready = True
        revision_map = step.revision_map
        applied = (
            {
                script.revision
                for script in revision_map.iterate_revisions(tuple(heads), "base")
            }
            if heads
            else set()
        )
        recorded = {
            row[0]
            for row in connection.exec_driver_sql(f"SELECT revision FROM {TABLE}")
        }
        for gone in sorted(recorded - applied):
            connection.exec_driver_sql(
                f"DELETE FROM {TABLE} WHERE revision = %(revision)s", {"revision": gone}
            )
        ran = step.up_revision_id if step.is_upgrade and not step.is_stamp else None
        for revision in sorted(applied - recorded | ({ran} if ran else set())):
            script = revision_map.get_revision(revision)
            source = Path(script.path).read_text(encoding="utf-8")
            connection.exec_driver_sql(
                f"INSERT INTO {TABLE} (revision, file_name, sha256, source, branch,"
                "                      stamped, downgrade_sql)"
                " VALUES (%(revision)s, %(file_name)s, %(sha256)s, %(source)s,"
                "         %(branch)s, %(stamped)s, %(downgrade_sql)s)"
                " ON CONFLICT (revision) DO UPDATE SET file_name = EXCLUDED.file_name,"
                "   sha256 = EXCLUDED.sha256, source = EXCLUDED.source,"
                "   branch = EXCLUDED.branch, applied_at = now(),"
                "   stamped = EXCLUDED.stamped, downgrade_sql = EXCLUDED.downgrade_sql",
                {
                    "revision": revision,
                    "file_name": Path(script.path).name,
                    "sha256": source_digest(source),
                    "source": source,
                    "branch": self.branch,
                    "stamped": revision != ran,
                    "downgrade_sql": rendered_downgrade(script),
                },
            )


def rendered_downgrade(script: Any) -> str | None:
    """The SQL the revision's downgrade() runs, rendered offline; None if it can't be.

    Rendered against an offline (as-SQL) context, as `alembic downgrade --sql`
    does, so nothing runs; a downgrade that needs a live connection gives None.
    """
    import io

    from alembic import op
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    buffer = io.StringIO()
    offline = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    # This runs inside a migration run: `op` is that run's, and leaving the offline
    # context would unset it for the revisions still to come. Put it back.
    running = vars(op).get("_proxy")
    try:
        with Operations.context(offline):
            script.module.downgrade()
    except Exception:  # only means "could not render": the source is kept anyway
        return None
    finally:
        if running is not None:
            running._install_proxy()
    return buffer.getvalue()


def read_journal(connection: Connection) -> dict[str, Applied]:
    """The journal by revision; empty when the database never had one."""
    exists = connection.exec_driver_sql(
        "SELECT to_regclass(%(table)s) IS NOT NULL", {"table": TABLE}
    ).scalar()
    if not exists:
        connection.commit()
        return {}
    rows = connection.exec_driver_sql(
        f"SELECT revision, file_name, sha256, source, branch, applied_at, stamped,"
        f"       downgrade_sql FROM {TABLE}"
    ).all()
    connection.commit()
    return {row[0]: Applied(*row) for row in rows}


@dataclass(frozen=True)
class Foreign:
    """An applied revision whose file on this branch is another, or none."""

    applied: Applied
    here: RevisionFile | None

    def describe(self) -> str:
        origin = f"{self.applied.file_name} (applied from branch {self.applied.branch})"
        if self.here is None:
            return f"revision {self.applied.revision} came from {origin}; no file here defines it"
        return (
            f"revision {self.applied.revision} came from {origin}; "
            f"here {self.here.path.name} differs"
        )


def foreign_revisions(
    journal: dict[str, Applied], files: list[RevisionFile]
) -> list[Foreign]:
    """Applied revisions whose recorded file is not this branch's, oldest first.

    Order follows the recorded sources' own chain, so the first is where this
    branch and the database part ways.
    """
    here = {f.revision: f for f in files}
    order = recorded_chain(journal)
    found = []
    for revision in order:
        applied = journal[revision]
        mine = here.get(revision)
        if mine is None:
            found.append(Foreign(applied, None))
        elif source_digest(mine.path.read_text(encoding="utf-8")) != applied.sha256:
            found.append(Foreign(applied, mine))
    return found


def recorded_chain(journal: dict[str, Applied]) -> list[str]:
    """The journal's revisions, oldest first, by the recorded files' down_revision."""
    from devdb.schema.collisions import parse_revision_file

    parents: dict[str, tuple[str, ...]] = {}
    for revision, applied in journal.items():
        parsed = parse_revision_file(Path(applied.file_name), applied.source)
        parents[revision] = parsed.down_revisions
    ordered: list[str] = []

    def visit(revision: str) -> None:
        if revision in ordered or revision not in parents:
            return
        for parent in parents[revision]:
            visit(parent)
        ordered.append(revision)

    for revision in sorted(parents):
        visit(revision)
    return ordered


def recorded_parent(journal: dict[str, Applied], revision: str) -> str | None:
    """What the recorded file of ``revision`` builds on (None: the first)."""
    from devdb.schema.collisions import parse_revision_file

    applied = journal[revision]
    downs = parse_revision_file(Path(applied.file_name), applied.source).down_revisions
    return downs[0] if downs else None


def write_recorded_sources(journal: dict[str, Applied], versions_dir: Path) -> None:
    """The recorded revision files, as they were applied, into ``versions_dir``."""
    versions_dir.mkdir(parents=True, exist_ok=True)
    for applied in journal.values():
        (versions_dir / applied.file_name).write_text(applied.source, encoding="utf-8")


def replace_rows(connection: Connection, rows: list[Applied], forget: set[str]) -> None:
    """Write ``rows`` as they are, after forgetting ``forget`` (one transaction).

    For the toolkit's own moves of the dev database (a rebase's renumbering) whose
    steps Alembic would record as stamps: the journal keeps saying where each
    revision really came from and when it was applied.
    """
    for statement in CREATE:
        connection.exec_driver_sql(statement)
    for revision in sorted(forget | {row.revision for row in rows}):
        connection.exec_driver_sql(
            f"DELETE FROM {TABLE} WHERE revision = %(revision)s", {"revision": revision}
        )
    for row in rows:
        connection.exec_driver_sql(
            f"INSERT INTO {TABLE} (revision, file_name, sha256, source, branch,"
            "                      applied_at, stamped, downgrade_sql)"
            " VALUES (%(revision)s, %(file_name)s, %(sha256)s, %(source)s,"
            "         %(branch)s, %(applied_at)s, %(stamped)s, %(downgrade_sql)s)",
            {
                "revision": row.revision,
                "file_name": row.file_name,
                "sha256": row.sha256,
                "source": row.source,
                "branch": row.branch,
                "applied_at": row.applied_at,
                "stamped": row.stamped,
                "downgrade_sql": row.downgrade_sql,
            },
        )
    connection.commit()


def record_head_files(settings: Settings) -> None:
    """Journal a dev database made at head without running the revisions here
    (a clone of the test databases' head template): it holds these files."""
    from datetime import UTC, datetime

    from devdb.database import connect
    from devdb.schema.collisions import check_revision_files, linear_chain

    branch = current_branch(settings.project_root)
    now = datetime.now(UTC)
    rows = []
    for revision_file in linear_chain(
        check_revision_files(settings.script_location / "versions")
    ):
        source = revision_file.path.read_text(encoding="utf-8")
        rows.append(
            Applied(
                revision_file.revision,
                revision_file.path.name,
                source_digest(source),
                source,
                branch,
                now,
                False,
            )
        )
    with connect(settings) as connection:
        replace_rows(connection, rows, forget=set(read_journal(connection)))
