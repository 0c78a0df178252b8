"""Alembic env — raw SQL migrations, no SQLAlchemy ORM.

Where the database is, in order:
1. a connection handed in through ``config.attributes["connection"]`` (the devdb
   toolkit and pytest-alembic do this, so their settings and this file agree);
2. ``-x sqlalchemy.url=...`` on the alembic command line (this one run);
3. ``DATABASE_URL``, read by the toolkit when it is installed, so every URL the
   invoke tasks take works here too (``postgresql+asyncpg://...?ssl=require``);
   without it turned into the sync driver's form;
4. the toolkit's settings, when the toolkit is installed (``DEVDB_PORT``,
   ``devdb.local.toml``, ``devdb.toml``), so ``alembic upgrade head`` and
   ``invoke db.upgrade`` reach the same dev database;
5. ``sqlalchemy.url`` in alembic.ini (the backend deployed without the toolkit).

Online runs hold a PostgreSQL advisory lock for their whole length: Alembic has no
lock of its own, and two upgrades racing on one empty database both try to create
``alembic_version`` and the tables. A second run waits for the first (bounded by
``MIGRATION_LOCK_WAIT_SECONDS`` for the alembic CLI, the ``migration_lock_wait``
setting (DEVDB_MIGRATION_LOCK_WAIT) for the invoke tasks; 60 s by default) and then
finds nothing left to do.

Online runs also set ``lock_timeout`` (default 5s: DDL waits that long for a table
lock, then fails, rather than queue every reader and writer of a busy hypertable
behind it) and ``statement_timeout`` (default 0, no limit) for the session: the
settings ``migration_lock_timeout`` / ``migration_statement_timeout``
(DEVDB_MIGRATION_LOCK_TIMEOUT / DEVDB_MIGRATION_STATEMENT_TIMEOUT), or
MIGRATION_LOCK_TIMEOUT / MIGRATION_STATEMENT_TIMEOUT for the alembic CLI without
the toolkit. Offline ``--sql`` output does not carry them: whoever runs that SQL
sets their own (``invoke db.lint`` asks revisions that alter a hypertable to).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from logging.config import fileConfig
from typing import TYPE_CHECKING, Any

from alembic import context
from alembic.util import CommandError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings

config = context.config

# Keep the loggers of whoever called us (the toolkit, pytest) when they hand in a
# connection or say so (configure_logger, Alembic's cookbook convention); the
# alembic CLI gets the logging set up in alembic.ini.
if (
    config.config_file_name is not None
    and "connection" not in config.attributes
    and config.attributes.get("configure_logger", True)
):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Migrations are raw SQL (op.execute); there are no ORM models to compare against.
target_metadata = None

# One key for every migration run of this project, whatever the client.
MIGRATION_LOCK_KEY = 20260210
LOCK_POLL_SECONDS = 0.2


def sync_driver_url(url: str) -> str:
    """The URL with psycopg2 named as its driver (the backend on its own).

    The backend's ``+asyncpg`` cannot run Alembic, and for a bare ``postgresql://``
    SQLAlchemy 2.1 picks psycopg 3, which is not installed: psycopg2-binary is.
    asyncpg's ``ssl=`` becomes libpq's ``sslmode=``, which psycopg2 understands.
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    url = url.strip()
    asyncpg = url.startswith("postgresql+asyncpg://")
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg2://" + url[len(prefix) :]
            break
    if not asyncpg:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # create_engine says it cannot be parsed, without echoing it
    query = [
        ("sslmode", {"true": "require", "false": "disable"}.get(v.lower(), v))
        if k == "ssl"
        else (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def toolkit_settings() -> Settings | None:
    """The toolkit's settings, or None without the toolkit (the backend alone)."""
    try:
        from devdb.errors import DevDbError
        from devdb.settings import load_settings
    except ImportError:
        return None
    try:
        return load_settings()
    except DevDbError as error:
        raise CommandError(f"{error.message}\nTIP: {error.tip}") from None


def database_url() -> str:
    """The URL to migrate when no connection is handed in (the module docstring's order)."""
    return database_target()[0]


def database_target() -> tuple[str, dict[str, str]]:
    """The URL to migrate, and libpq keywords that travel beside it.

    With the toolkit installed, DATABASE_URL is read by the toolkit itself, so the
    alembic CLI takes every URL the invoke tasks take (asyncpg's ``?ssl=require``,
    ``postgres://``, a socket directory) and passes secret parameters
    (``sslpassword``) beside the URL, never in it.
    """
    from_command_line = context.get_x_argument(as_dictionary=True).get("sqlalchemy.url")
    if from_command_line:
        return sync_driver_url(from_command_line), {}
    settings = toolkit_settings()
    if settings is not None:
        url = settings.url().render_as_string(hide_password=False)
        return str(url), dict(settings.secret_parameters())
    url = (
        os.environ.get("DATABASE_URL", "").strip()
        or config.get_main_option("sqlalchemy.url")
        or ""
    )
    return sync_driver_url(url), {}


def is_dev_database() -> bool:
    """Whether this run migrates the toolkit's dev database (its journal is kept).

    The toolkit says so for the connection it hands in; the alembic CLI reaches the
    dev database when neither -x sqlalchemy.url nor DATABASE_URL names another.
    """
    said = config.attributes.get("journal")
    if said is not None:
        return bool(said)
    if "connection" in config.attributes:
        return False  # pytest-alembic and other callers: not the dev database
    if context.get_x_argument(as_dictionary=True).get("sqlalchemy.url"):
        return False
    settings = toolkit_settings()
    # DATABASE_URL makes the toolkit's settings an exact target: not the dev database.
    return settings is not None and not settings.exact_target


def version_callback() -> Callable[..., None]:
    """Whoever handed in a callback, then the dev database's journal, after each step."""
    handed_in = config.attributes.get("on_version_apply", ())
    callbacks: list[Callable[..., None]] = (
        list(handed_in) if isinstance(handed_in, tuple | list) else [handed_in]
    )
    if is_dev_database():
        from devdb.schema.journal import JournalRecorder
        from devdb.settings import PROJECT_ROOT

        # The checkout's branch, even when the files run from a scratch copy.
        callbacks.append(JournalRecorder(PROJECT_ROOT))

    def each(**step: Any) -> None:
        for callback in callbacks:
            callback(**step)

    return each


def refuse_unencoded_at(url: str) -> None:
    """Refuse a URL whose password holds a bare '@': SQLAlchemy would read the rest
    as the host and print it in its errors. Nothing of the URL is echoed."""
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = url.partition("://")[2].partition("/")[0]
    if netloc.count("@") > 1:
        raise CommandError(
            "the database URL has more than one '@' before the host: the password "
            "holds an '@' that is not percent-encoded\n"
            "TIP: percent-encode the password ('@' becomes %40)"
        )


def refuse_colliding_revisions() -> None:
    """Stop before anything runs when revision files collide (the toolkit checks).

    Alembic alone would only warn about two files with one id and use one of them.
    Without the toolkit installed (the backend deployed on its own) there is no
    check: its release branch never holds colliding files (`invoke db.check`).
    """
    try:
        from pathlib import Path

        from devdb.errors import DevDbError
        from devdb.schema.collisions import check_revision_files
    except ImportError:
        return
    try:
        check_revision_files(Path(context.script.dir) / "versions")
    except DevDbError as error:
        raise CommandError(f"{error.message}\nTIP: {error.tip}") from None


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of executing."""
    refuse_colliding_revisions()
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def describe_lock_holder(connection: Connection) -> str:
    """Who holds the migration lock, in words, or 'an unknown session'."""
    from sqlalchemy import text

    row = connection.execute(
        text(
            "SELECT a.pid, coalesce(nullif(a.application_name, ''), 'unnamed'),"
            "       coalesce(host(a.client_addr), 'local socket'),"
            "       to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')"
            "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            "   AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1"
        ),
        {"key": MIGRATION_LOCK_KEY},
    ).first()
    connection.commit()
    if row is None:
        return "an unknown session"
    pid, application, client, since = row
    return f"pid {pid} ({application}, from {client}, connected {since})"


def acquire_migration_lock(connection: Connection) -> None:
    """Take the session advisory lock, waiting a bounded time for another run."""
    from sqlalchemy import text

    wait_seconds = float(
        config.attributes.get(
            "migration_lock_wait_seconds",
            os.environ.get("MIGRATION_LOCK_WAIT_SECONDS", "60"),
        )
    )
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        acquired = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        ).scalar()
        # A session-level lock outlives this commit; the commit leaves Alembic a
        # connection with no transaction open.
        connection.commit()
        if acquired:
            return
        holder = describe_lock_holder(connection)
        if time.monotonic() >= deadline:
            raise CommandError(
                f"another migration run still holds the migration lock after "
                f"{wait_seconds:g} s: {holder}\n"
                "TIP: let it finish and run again, or wait longer: "
                "DEVDB_MIGRATION_LOCK_WAIT for invoke, MIGRATION_LOCK_WAIT_SECONDS "
                "for the alembic CLI"
            )
        if not announced:
            print(
                f"Waiting up to {wait_seconds:g} s for the migration lock held by "
                f"{holder} ...",
                file=sys.stderr,
            )
            announced = True
        time.sleep(LOCK_POLL_SECONDS)


def release_migration_lock(connection: Connection) -> None:
    from sqlalchemy import text

    if connection.closed or connection.invalidated:
        return  # the server dropped the session, and its locks with it
    if connection.in_transaction():
        connection.rollback()
    connection.execute(
        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
    )
    connection.commit()


def require_timescaledb(connection: Connection) -> None:
    """Fail with one clear line when the server cannot load TimescaleDB."""
    from sqlalchemy import text

    available, version = connection.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions"
            "                WHERE name = 'timescaledb'),"
            "       current_setting('server_version')"
        )
    ).one()
    connection.commit()
    if not available:
        raise CommandError(
            f"this PostgreSQL {version.split()[0]} server has no timescaledb "
            "extension available, and every migration here needs it\n"
            "TIP: point DATABASE_URL at a TimescaleDB server, or start one with "
            "`invoke db.up`"
        )


DEFAULT_TIMEOUTS = ("5s", "0")


def migration_timeouts() -> tuple[str, str]:
    """(lock_timeout, statement_timeout) for this run, from the first that says."""
    handed_in = config.attributes.get("migration_timeouts")
    if handed_in is not None:
        return (str(handed_in[0]), str(handed_in[1]))
    from_environment = (
        os.environ.get("MIGRATION_LOCK_TIMEOUT", "").strip(),
        os.environ.get("MIGRATION_STATEMENT_TIMEOUT", "").strip(),
    )
    settings = toolkit_settings()
    toolkit = (
        DEFAULT_TIMEOUTS  # the backend on its own
        if settings is None
        else (settings.migration_lock_timeout, settings.migration_statement_timeout)
    )
    return (from_environment[0] or toolkit[0], from_environment[1] or toolkit[1])


def set_migration_timeouts(connection: Connection) -> None:
    """Session timeouts for every revision of this run (set_config: bound values)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    lock_timeout, statement_timeout = migration_timeouts()
    try:
        connection.execute(
            text(
                "SELECT set_config('lock_timeout', :lock, false),"
                "       set_config('statement_timeout', :statement, false)"
            ),
            {"lock": lock_timeout, "statement": statement_timeout},
        )
    except DBAPIError as error:
        connection.rollback()
        reason = str(getattr(error, "orig", error)).strip().splitlines()
        raise CommandError(
            f"the migration timeouts lock_timeout={lock_timeout!r}, "
            f"statement_timeout={statement_timeout!r} were refused: "
            f"{reason[0] if reason else type(error).__name__}\n"
            "TIP: use PostgreSQL durations such as 5s, 500ms or 0 in "
            "MIGRATION_LOCK_TIMEOUT / MIGRATION_STATEMENT_TIMEOUT (alembic CLI) or "
            "DEVDB_MIGRATION_LOCK_TIMEOUT / DEVDB_MIGRATION_STATEMENT_TIMEOUT"
        ) from None
    connection.commit()


def reset_migration_timeouts(connection: Connection) -> None:
    """A handed-in connection goes back to its owner as it came."""
    from sqlalchemy import text

    if connection.closed or connection.invalidated:
        return
    if connection.in_transaction():
        connection.rollback()
    connection.execute(text("RESET lock_timeout"))
    connection.execute(text("RESET statement_timeout"))
    connection.commit()


def run_migrations_with(connection: Connection) -> None:
    require_timescaledb(connection)
    acquire_migration_lock(connection)
    try:
        set_migration_timeouts(connection)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # Each revision commits on its own, so a failure keeps the revisions
            # before it, and autocommit_block() has a transaction to step out of.
            transaction_per_migration=True,
            # The toolkit's hook to learn which revisions this very run applied,
            # and the dev database's journal of the files they came from.
            on_version_apply=version_callback(),
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        release_migration_lock(connection)
        reset_migration_timeouts(connection)


def run_migrations_online() -> None:
    """Run migrations against live database."""
    refuse_colliding_revisions()
    handed_in = config.attributes.get("connection")
    if handed_in is not None:
        from sqlalchemy.engine import Engine

        # pytest-alembic hands in an Engine; the toolkit a Connection.
        if isinstance(handed_in, Engine):
            with handed_in.connect() as connection:
                run_migrations_with(connection)
        else:
            run_migrations_with(handed_in)
        return

    from sqlalchemy import create_engine, pool
    from sqlalchemy.exc import ArgumentError, DBAPIError

    url, beside = database_target()
    refuse_unencoded_at(url)
    try:
        # The URL itself may hold a password: the messages describe it, never echo it.
        connectable = create_engine(url, poolclass=pool.NullPool, connect_args=beside)
        where = f"{connectable.url.host}:{connectable.url.port or 5432}"
    except (ArgumentError, ValueError):
        raise CommandError(
            "the database URL (-x sqlalchemy.url, DATABASE_URL or the settings) "
            "cannot be parsed\n"
            "TIP: use the form postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    try:
        connection = connectable.connect()
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()
        raise CommandError(
            f"could not connect to the database at {where}: "
            f"{reason[0] if reason else 'no reason given'}\n"
            "TIP: start the dev database with `invoke db.up`, or fix DATABASE_URL"
        ) from None
    with connection:
        run_migrations_with(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
