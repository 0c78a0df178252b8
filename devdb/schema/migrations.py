"""Alembic, driven through ``alembic.command`` with a connection we hand in.

The connection goes to env.py through ``config.attributes["connection"]`` so the
toolkit's settings decide where migrations run, and env.py's advisory lock and
TimescaleDB check apply to every caller alike. Errors become DevDbError.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.schema.collisions import check_revision_files
from devdb.schema.revisions import database_revisions, script_directory

if TYPE_CHECKING:
    from alembic.config import Config
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
    config.attributes["migration_timeouts"] = (
        settings.migration_lock_timeout,
        settings.migration_statement_timeout,
    )
    return config


OUT_OF_RANGE = re.compile(r"Walked too far|Relative revision|didn't produce")
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
    if OUT_OF_RANGE.search(text):
        return DevDbError(
            f"the target revision is out of range: {text.splitlines()[0]}",
            "keep --revision / --steps within the revisions `invoke db.history` "
            "lists, counted from where the database is (`invoke db.current`)",
        )
    return DevDbError(text.splitlines()[0], "`invoke db.history` lists the revisions")


# Set while the toolkit runs revisions on throwaway databases for a check of its
# own (a rebase's replay): their progress is not what the person asked to see.
PROGRESS_HIDDEN: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "alembic_progress_hidden", default=False
)


def is_progress_worth_reading(record: logging.LogRecord) -> bool:
    """Keep "Running upgrade 001 -> 002" and warnings; drop Alembic's preamble."""
    if record.levelno >= logging.WARNING:
        return True
    return not PROGRESS_HIDDEN.get() and record.getMessage().startswith("Running ")


@contextmanager
def progress_hidden() -> Iterator[None]:
    """Alembic's "Running ..." lines left out while the block runs."""
    token = PROGRESS_HIDDEN.set(True)
    try:
        yield
    finally:
        PROGRESS_HIDDEN.reset(token)


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

    # Nothing is applied while revision files collide: Alembic would pick one of
    # two files with the same id, or stop on two heads in its own words.
    check_revision_files(Path(script_location or settings.script_location) / "versions")
    config = alembic_config(settings, script_location)
    show_alembic_progress()
    stepped: list[str] = []

    def record_step(*, step: Any, **_: Any) -> None:
        # For an upgrade and a downgrade alike, the revision the step applies/undoes.
        stepped.append(step.up_revision_id)

    config.attributes["on_version_apply"] = record_step  # env.py passes it to Alembic
    # The dev database keeps a journal of the files it applied (devdb.schema.journal);
    # a database named by DATABASE_URL, or a throwaway, does not.
    config.attributes["journal"] = not settings.exact_target
    running = RunningRevision()
    logging.getLogger("alembic.runtime.migration").addHandler(running)
    try:
        with connect(settings) as connection:
            config.attributes["connection"] = connection
            try:
                getattr(command, name)(config, *args, **kwargs)
            except CommandError as error:
                raise command_error(
                    error, current_revisions_quietly(connection)
                ) from None
            except DBAPIError as error:
                raise migration_failed(error, running.revision) from None
    finally:
        logging.getLogger("alembic.runtime.migration").removeHandler(running)
    return stepped


class RunningRevision(logging.Handler):
    """Remembers the revision Alembic last said it runs, to name it on a failure.

    on_version_apply reports a step once it is done; the failing one never is.
    """

    STEP = re.compile(r"^Running (upgrade|downgrade) (\S*) -> (\S+?),?(?: |$)")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.revision = ""

    def emit(self, record: logging.LogRecord) -> None:
        step = self.STEP.match(record.getMessage())
        if step:
            kind, lower, upper = step.groups()
            # "upgrade 001 -> 002" runs 002; "downgrade 002 -> 001" undoes 002.
            self.revision = upper if kind == "upgrade" else lower


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
# TimescaleDB's refusal of some DDL once a hypertable has compression enabled
# (timescale/timescaledb#1543, #2663); only a database with such a table shows it.
# 2.19 says "hypertables that have compression enabled", 2.29 "hypertables with
# compressed chunks".
COMPRESSED_HYPERTABLE_REFUSAL = re.compile(
    r"not supported on hypertables (?:that have compression enabled|with compressed chunks)"
)
# libpq's words when the server, not the SQL, ended the session.
SERVER_GONE = (
    "server closed the connection unexpectedly",
    "terminating connection",
    "could not receive data from server",
    "could not send data to server",
    "connection already closed",
    "SSL SYSCALL error",
    "the database system is shutting down",
)


def migration_failed(error: Exception, revision: str = "") -> DevDbError:
    """Why a migration failed, naming its revision when Alembic said which it ran."""
    reason = str(getattr(error, "orig", error)).strip().splitlines()
    failed = (
        f"a migration failed (revision {revision})"
        if revision
        else "a migration failed"
    )
    if reason and APACHE_LICENCE_REFUSAL.search(reason[0]):
        # The SQL is fine; the server lacks tsl/. Say which images have it.
        return DevDbError(
            f"{failed}: it uses TimescaleDB features of the Timescale "
            "License (compression, continuous aggregates, policies) and this server's "
            'TimescaleDB is the Apache-only build (timescaledb.license = "apache")',
            "run it on an image built with tsl/ (`invoke image.list`: licence "
            "timescale), or the official timescale/timescaledb image",
        )
    if getattr(error, "connection_invalidated", False) or any(
        marker in line for marker in SERVER_GONE for line in reason
    ):
        return DevDbError(
            "the database server went away during the migration: "
            f"{reason[0] if reason else type(error).__name__}",
            "the revision is not at fault: check the server (`invoke db.status`, "
            "`invoke db.logs`; a stopped container, a full disk), then run again — "
            "the interrupted revision was rolled back, the ones before it stay applied",
        )
    if getattr(getattr(error, "orig", None), "pgcode", None) == "55P03":
        return DevDbError(
            f"a migration gave up waiting for a table lock: {reason[0]}",
            "another session holds a lock on that table (see pg_stat_activity); "
            "let it finish and run again, or allow longer waits with "
            "DEVDB_MIGRATION_LOCK_TIMEOUT",
        )
    if reason and COMPRESSED_HYPERTABLE_REFUSAL.search(reason[0]):
        return DevDbError(
            f"{failed} on a compressed hypertable: {reason[0]}",
            "make the change compression-safe (add a new column and fill it, rather "
            "than change a type), or decompress its chunks and turn compression off "
            "before the change, in the same revision (`invoke db.lint` flags this)",
        )
    return DevDbError(
        f"{failed}: {reason[0] if reason else type(error).__name__}",
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

    check_revision_files(settings.script_location / "versions")
    try:
        command.upgrade(alembic_config(settings), revision, sql=True)
    except CommandError as error:
        raise command_error(error) from None


def current(settings: Settings) -> tuple[str, ...]:
    """The revision(s) the database is at; empty when it has none (base)."""
    with connect(settings) as connection:
        return database_revisions(connection)


def pending(settings: Settings, revisions: tuple[str, ...]) -> list[str]:
    """Revisions between the database's and head, oldest first.

    Raises DevDbError when the database's revision is unknown to the files.
    """
    from alembic.util import CommandError

    check_revision_files(settings.script_location / "versions")
    script = script_directory(settings.script_location)
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
