"""Alembic, driven through ``alembic.command`` with a connection we hand in.

The connection goes to env.py through ``config.attributes["connection"]`` so the
toolkit's settings decide where migrations run, and env.py's advisory lock and
TimescaleDB check apply to every caller alike. Errors become DevDbError.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devdb.errors import DevDbError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings


def alembic_config(settings: Settings, script_location: str | None = None) -> Config:
    from alembic.config import Config

    config = Config(str(settings.alembic_ini))
    # alembic.ini says "alembic", relative to backend/; tasks run from anywhere.
    config.set_main_option(
        "script_location", str(script_location or settings.script_location)
    )
    # ConfigParser interpolates %; an escaped URL keeps a percent-encoded password.
    config.set_main_option(
        "sqlalchemy.url",
        settings.url().render_as_string(hide_password=False).replace("%", "%%"),
    )
    config.attributes["migration_lock_wait_seconds"] = settings.migration_lock_wait
    return config


def script_directory(config: Config) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config)


def connection_error(
    settings: Settings, error: Exception, database: str | None = None
) -> DevDbError:
    """Why we could not connect, in one line, without the password."""
    reason = str(getattr(error, "orig", error)).strip()
    where = f"{settings.host}:{settings.port}"
    if database and database != settings.database and "does not exist" in reason:
        # A maintenance connection (db.reset drops and re-creates from there).
        return DevDbError(
            f"the maintenance database '{database}' does not exist at {where}",
            f"create it on that server (`CREATE DATABASE {database}`), or drop and "
            f"re-create '{settings.database}' by hand",
        )
    if "password authentication failed" in reason:
        return DevDbError(
            f"the database at {where} rejected the password for user '{settings.user}'",
            "check the password in DATABASE_URL (or DEVDB_PASSWORD / devdb.local.toml)",
        )
    if f'database "{settings.database}" does not exist' in reason:
        return DevDbError(
            f"the database '{settings.database}' does not exist at {where}",
            "create it (`invoke db.reset --yes` re-creates the dev database) or fix "
            "the database name in DATABASE_URL",
        )
    if "could not translate host name" in reason:
        return DevDbError(
            f"the host '{settings.host}' cannot be resolved",
            "fix the host in DATABASE_URL",
        )
    first = reason.splitlines()[0] if reason else type(error).__name__
    return DevDbError(
        f"no database answers at {where}: {first}",
        "start the dev database with `invoke db.up`, or fix DATABASE_URL",
    )


@contextlib.contextmanager
def connect(settings: Settings, database: str | None = None) -> Iterator[Connection]:
    """A SQLAlchemy connection, with connection failures explained."""
    from sqlalchemy import create_engine, pool
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(
        settings.url(database),
        poolclass=pool.NullPool,
        connect_args={"connect_timeout": 5, "application_name": "devdb"},
    )
    try:
        try:
            connection = engine.connect()
        except DBAPIError as error:
            raise connection_error(settings, error, database) from None
        with connection:
            yield connection
    finally:
        engine.dispose()


UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']*)'")


def command_error(
    error: Exception, database_revisions: tuple[str, ...] = ()
) -> DevDbError:
    """Alembic's CommandError as ERROR + TIP (env.py's own carry a TIP line)."""
    text = str(error).strip()
    message, _, tip = text.partition("\nTIP: ")
    if tip:
        return DevDbError(message, tip)
    unknown = UNKNOWN_REVISION.search(text)
    if unknown:
        revision = unknown.group(1)
        if revision in database_revisions:
            return DevDbError(
                f"the database is at revision '{revision}', which no migration file "
                "here knows (a branch with newer migrations was checked out?)",
                "check out the branch that has it, then downgrade there; or "
                "`invoke db.stamp --revision <a known revision>` if you know the schema matches",
            )
        return DevDbError(
            f"unknown revision '{revision}'",
            "`invoke db.history` lists the revisions; 'head', 'base', '+1', '-1' also work",
        )
    return DevDbError(text.splitlines()[0], "`invoke db.history` lists the revisions")


def database_revisions(connection: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    revisions = tuple(MigrationContext.configure(connection).get_current_heads())
    connection.commit()
    return revisions


def is_progress_worth_reading(record: logging.LogRecord) -> bool:
    """Keep "Running upgrade 001 -> 002" and warnings; drop Alembic's preamble."""
    return record.levelno >= logging.WARNING or record.getMessage().startswith(
        "Running "
    )


def show_alembic_progress() -> None:
    """Alembic's progress lines on stderr, once per process."""
    logger = logging.getLogger("alembic")
    # Alembic installs a NullHandler of its own: look for a real one.
    if not any(type(handler) is logging.StreamHandler for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(is_progress_worth_reading)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run_command(
    settings: Settings,
    name: str,
    *args: object,
    script_location: str | None = None,
    **kwargs: object,
) -> list[str]:
    """Run ``alembic.command.<name>`` against the configured database.

    Returns the revisions this run applied (or undid), in order: a run that waited
    for another's lock and found nothing left to do returns none.
    ``script_location`` points at another copy of the revisions (tests and checks
    use a temporary one); by default it is backend/alembic.
    """
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    config = alembic_config(settings, script_location)
    show_alembic_progress()
    stepped: list[str] = []

    def record_step(*, step: Any, **_: Any) -> None:
        # For an upgrade and a downgrade alike, the revision the step applies/undoes.
        stepped.append(step.up_revision_id)

    config.attributes["on_version_apply"] = record_step  # env.py passes it to Alembic
    with connect(settings) as connection:
        config.attributes["connection"] = connection
        try:
            getattr(command, name)(config, *args, **kwargs)
        except CommandError as error:
            raise command_error(error, current_revisions_quietly(connection)) from None
        except DBAPIError as error:
            raise migration_failed(error) from None
    return stepped


def current_revisions_quietly(connection: Connection) -> tuple[str, ...]:
    try:
        if connection.in_transaction():
            connection.rollback()
        return database_revisions(connection)
    except Exception:  # only used to word an error better; never mask the first
        return ()


# TimescaleDB's refusal on an Apache-only build (Debian's package, the -oss images):
# 0A000 "functionality not supported under the current "apache" license".
APACHE_LICENCE_REFUSAL = re.compile(r'under the current "apache" license')


def migration_failed(error: Exception) -> DevDbError:
    reason = str(getattr(error, "orig", error)).strip().splitlines()
    if reason and APACHE_LICENCE_REFUSAL.search(reason[0]):
        # The SQL is fine; the server lacks tsl/. Say which images have it.
        return DevDbError(
            "a migration failed: it uses TimescaleDB features of the Timescale "
            "License (compression, continuous aggregates, policies) and this server's "
            'TimescaleDB is the Apache-only build (timescaledb.license = "apache")',
            "run it on an image built with tsl/ (`invoke image.list`: licence "
            "timescale), or the official timescale/timescaledb image",
        )
    return DevDbError(
        f"a migration failed: {reason[0] if reason else type(error).__name__}",
        "fix the revision and run again; revisions before it stay applied "
        "(each runs in its own transaction) — `invoke db.current` shows where it stopped",
    )


def upgrade(
    settings: Settings, revision: str = "head", *, script_location: str | None = None
) -> list[str]:
    """Upgrade; the revisions this run applied, oldest first."""
    return run_command(settings, "upgrade", revision, script_location=script_location)


def downgrade(
    settings: Settings, revision: str, *, script_location: str | None = None
) -> None:
    run_command(settings, "downgrade", revision, script_location=script_location)


def stamp(
    settings: Settings, revision: str, *, script_location: str | None = None
) -> None:
    run_command(settings, "stamp", revision, script_location=script_location)


def upgrade_sql(settings: Settings, revision: str = "head") -> None:
    """Print the SQL of an upgrade (Alembic's offline mode); needs no database."""
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(settings), revision, sql=True)
    except CommandError as error:
        raise command_error(error) from None


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    down_revision: str | None
    doc: str
    is_head: bool


def history(settings: Settings) -> list[RevisionInfo]:
    """Every revision, oldest first; needs no database."""
    script = script_directory(alembic_config(settings))
    heads = set(script.get_heads())
    revisions = list(script.walk_revisions())
    revisions.reverse()
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


def heads(settings: Settings) -> list[str]:
    return list(script_directory(alembic_config(settings)).get_heads())


def current(settings: Settings) -> tuple[str, ...]:
    """The revision(s) the database is at; empty when it has none (base)."""
    with connect(settings) as connection:
        return database_revisions(connection)


def pending(settings: Settings, revisions: tuple[str, ...]) -> list[str]:
    """Revisions between the database's and head, oldest first.

    Raises DevDbError when the database's revision is unknown to the files.
    """
    from alembic.util import CommandError

    script = script_directory(alembic_config(settings))
    try:
        lower = revisions or (None,)
        result: list[str] = []
        for revision in lower:
            for script_revision in script.iterate_revisions("heads", revision):
                if script_revision.revision not in result:
                    result.append(script_revision.revision)
    except CommandError as error:
        raise command_error(error, revisions) from None
    result.reverse()
    return result


RELATIVE_DOWNGRADE = re.compile(r"(?P<anchor>[^+@]*?)-(?P<steps>\d+)")


def lands_on_base(settings: Settings, target: str) -> bool:
    """Whether downgrading to ``target`` would undo every revision.

    Alembic accepts 'base', a revision id, and relative targets: '-2' (from the
    database's revision), '001-1', 'head-1', 'heads-1'. Each relative one is walked
    down the revision files here, so none slips past the guard. Branch ('x@-1') and
    '+N' targets are refused: the guard could not tell where they land.
    """
    if target == "base":
        return True
    if "@" in target or "+" in target:
        raise DevDbError(
            f"db.downgrade does not take the target '{target}'",
            "name a revision id, 'base', or a relative target such as -1 or 001-1",
        )
    relative = RELATIVE_DOWNGRADE.fullmatch(target)
    if relative is None:
        return False  # an absolute revision id: Alembic checks it exists
    script = script_directory(alembic_config(settings))
    anchor = relative.group("anchor")
    if anchor in ("head", "heads"):
        start: str | None = script.get_current_head()
    elif anchor:
        start = anchor
    else:
        revisions = current(settings)
        start = revisions[0] if revisions else None
    from alembic.util import CommandError

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


def downgrade_guarded(
    settings: Settings, target: str, *, yes: bool, force: bool
) -> None:
    """Downgrade; undoing every revision (dropping all tables) must be confirmed."""
    from devdb.safety import confirm_destructive

    if lands_on_base(settings, target):
        confirm_destructive(
            settings, "downgrade to base (drop every table)", yes=yes, force=force
        )
    downgrade(settings, target)
