"""Connecting to a database: one place that opens connections and explains failures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from devdb.errors import DevDbError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings


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
            f"create it on that server (`CREATE DATABASE {quote_identifier(database)}`), "
            "or drop and "
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
    if "SSL" in reason:
        return DevDbError(
            f"no TLS connection to {where}: {first}",
            "check sslmode/sslrootcert in DATABASE_URL against what that server "
            "offers; the dev container speaks no TLS",
        )
    return DevDbError(
        f"no database answers at {where}: {first}",
        "start the dev database with `invoke db.up`, or fix DATABASE_URL",
    )


@contextlib.contextmanager
def connect(settings: Settings, database: str | None = None) -> Iterator[Connection]:
    """A SQLAlchemy connection, with connection failures explained."""
    # lazy: SQLAlchemy costs `invoke --list` and a warm `db.up` ~0.3 s
    from sqlalchemy import create_engine, pool
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(
        settings.url(database),
        poolclass=pool.NullPool,
        connect_args=connect_arguments(settings),
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


# What a connection gets unless DATABASE_URL says otherwise: its own
# connect_timeout (a slow link) or application_name is kept.
CONNECT_DEFAULTS = {"connect_timeout": "5", "application_name": "devdb"}


def connect_arguments(settings: Settings) -> dict[str, str]:
    """libpq keywords beside the URL: the defaults DATABASE_URL does not set, and
    the secret parameters (sslpassword), which the URL never carries so that no
    rendering of it can show them."""
    given = dict(settings.query)
    return {
        **{k: v for k, v in CONNECT_DEFAULTS.items() if k not in given},
        **settings.secret_parameters(),
    }


def quote_identifier(name: str) -> str:
    """A PostgreSQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def dbname_conninfo(name: str) -> str:
    """``dbname='...'`` for psql's -d or pg_dump's --dbname: a bare name holding
    '=' would be read as a connection string, and one with a space or a quote
    must reach the server whole (libpq's quoting: \\ and \' inside quotes)."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
