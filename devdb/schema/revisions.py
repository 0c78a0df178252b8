"""The revision files: one reader, from a script location (``backend/alembic``).

Everything that asks "which revisions exist, in what order, which are heads" asks
here: the tasks, the checksum list, the contract check, the round trip. Reading
needs no database. ``quick_heads`` reads the files' literals without importing
Alembic, for the one path that must be fast (a warm ``db.up``).
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.errors import DevDbError
from devdb.files import shown
from devdb.schema.journal import source_digest

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings


def script_directory(script_location: Path) -> ScriptDirectory:
    """Alembic's view of the revision files, or a DevDbError saying what is wrong."""
    # lazy: Alembic costs `invoke --list` and a warm `db.up` half a second
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(script_location))
    try:
        return ScriptDirectory.from_config(config)
    except CommandError as error:
        raise unreadable(script_location, error) from None


def unreadable(script_location: Path, error: Exception) -> DevDbError:
    return DevDbError(
        f"the Alembic revisions in {shown(script_location)} cannot be read: "
        f"{str(error).splitlines()[0]}",
        "fix the revision files (`invoke db.history` lists them)",
    )


def read_revisions(script_location: Path) -> tuple[list[Script], list[str]]:
    """Every revision, oldest first, and the heads; read from files, no database."""
    from alembic.util import CommandError  # lazy: see script_directory

    script = script_directory(script_location)
    try:
        revisions = list(script.walk_revisions(base="base", head="heads"))
        heads = sorted(script.get_heads())
    except CommandError as error:
        raise unreadable(script_location, error) from None
    except KeyError as error:  # what walking the map raises for a dangling parent
        from devdb.failures import files_building_on

        where = files_building_on(str(error.args[0]), script_location / "versions")
        raise DevDbError(
            f"{where or f'a revision in {shown(script_location)}'} builds on "
            f"revision {error.args[0]!r}, which no file defines",
            "fix that revision's down_revision, or restore the missing file",
        ) from None
    revisions.reverse()
    return revisions, heads


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    doc: str
    is_head: bool


def history(script_location: Path) -> list[RevisionInfo]:
    """Every revision, oldest first; needs no database."""
    revisions, head_list = read_revisions(script_location)
    heads = set(head_list)
    return [
        RevisionInfo(
            revision=rev.revision,
            # A merge revision stands on several: shown as Alembic shows them.
            down_revision=rev.down_revision
            if isinstance(rev.down_revision, str | None)
            else f"({', '.join(rev.down_revision)})",
            doc=(rev.doc or "").strip(),
            is_head=rev.revision in heads,
        )
        for rev in revisions
    ]


def heads(script_location: Path) -> list[str]:
    return read_revisions(script_location)[1]


def database_revisions(connection: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext  # lazy: see above

    revisions = tuple(MigrationContext.configure(connection).get_current_heads())
    connection.commit()
    return revisions


def quick_heads(versions_dir: Path) -> set[str] | None:
    """The head revisions, read from the files' literals without importing Alembic.

    Importing Alembic and SQLAlchemy costs about half a second, most of a warm
    ``db.up``. Revision files assign ``revision`` and ``down_revision`` literals
    (script.py.mako), so ``ast`` reads them; anything unusual returns None and the
    caller asks Alembic instead.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions_dir.glob("*.py"):
        found: dict[str, object] = {}
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                target, value = None, None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                if (
                    isinstance(target, ast.Name)
                    and target.id in ("revision", "down_revision")
                    and value is not None
                ):
                    found[target.id] = ast.literal_eval(value)
        except (SyntaxError, ValueError, OSError):
            return None
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
        elif down is not None:
            return None
    return revisions - parents or None


def next_revision_id(existing: list[str]) -> str | None:
    """'002' after '001': sequential ids while every id is a number, else None."""
    if not existing:
        return "001"
    if not all(revision.isdigit() for revision in existing):
        return None  # Alembic's random ids then, rather than guess a scheme
    width = max(len(revision) for revision in existing)
    return str(max(int(revision) for revision in existing) + 1).zfill(width)


def is_released(revision_file: Path, project_root: Path, release_branch: str) -> bool:
    """Whether the revision's file is on the release branch (git decides).

    Without git or outside a repository nothing can be told apart, so every
    revision counts as released: the safe answer for backing out and editing.
    """
    try:
        relative = revision_file.resolve().relative_to(project_root.resolve())
        result = subprocess.run(
            ["git", "cat-file", "-e", f"{release_branch}:{relative.as_posix()}"],
            cwd=project_root,
            capture_output=True,
            timeout=10,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return True
    if result.returncode == 0:
        return True
    # Not a repository, or no such branch: unknown, so released.
    branch = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", release_branch],
        cwd=project_root,
        capture_output=True,
        timeout=10,
    )
    return branch.returncode != 0


def unreleased_revisions(
    script_location: Path, project_root: Path, release_branch: str
) -> list[str]:
    """Revisions not on the release branch, oldest first."""
    return [
        script.revision
        for script in read_revisions(script_location)[0]
        if script.path
        and not is_released(Path(script.path), project_root, release_branch)
    ]


def docstring_line(message: str) -> str:
    """A revision message made safe to sit between the template's triple quotes.

    The message is data, never code: whitespace (newlines included) collapses to
    single spaces, unprintable characters go, and backslashes and double quotes are
    escaped, so no message can close the docstring. Alembic makes the file name's
    slug from the same text (word characters only).
    """
    printable = "".join(ch for ch in " ".join(message.split()) if ch.isprintable())
    return printable.replace("\\", "\\\\").replace('"', '\\"')


def at_head_quickly(settings: Settings) -> bool:
    """True when the database is certainly at head; False means "ask Alembic"."""
    import psycopg2  # lazy: only this path needs it, and only past the quick check

    heads = quick_heads(settings.script_location / "versions")
    if heads is None:
        return False
    try:
        connection = psycopg2.connect(
            **{
                "connect_timeout": 5,
                "application_name": "devdb",
                # sslmode and the other URL parameters hold here too
                **settings.libpq_parameters(),
            }
        )
    except psycopg2.Error:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            current = {row[0] for row in cursor.fetchall()}
            if current != heads:
                return False
            # At head by id; by file too? (after a branch switch the ids match)
            cursor.execute(
                "SELECT to_regclass('devdb_journal.applied_revisions') IS NOT NULL"
            )
            fetched = cursor.fetchone()
            if fetched is None or not fetched[0]:
                return True  # no journal: applied before one was kept
            cursor.execute("SELECT sha256 FROM devdb_journal.applied_revisions")
            recorded = {row[0] for row in cursor.fetchall()}
    except psycopg2.Error:
        return False  # no alembic_version yet: a fresh database
    finally:
        connection.close()
    here = {
        source_digest(path.read_text(encoding="utf-8"))
        for path in (settings.script_location / "versions").glob("*.py")
    }
    return recorded <= here
