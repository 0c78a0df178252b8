"""Move every database of a kept volume to the image's TimescaleDB version.

A volume made by an older image (pg17-ts2.19) started under a newer one
(pg17-ts2.29, which carries 2.19.3's libraries too) keeps running the version each
database was created with until ``ALTER EXTENSION timescaledb UPDATE``. That
statement must be the first of its session: once a session has loaded the old
version's library, TimescaleDB refuses (0A000 "cannot be updated after the old
version has already been loaded"). So each database gets a fresh ``psql -X``
(no psqlrc that could run a query first) in the container, ``template1`` included
so databases created later start on the new version; ``template0`` accepts no
connections and never has the extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devdb.containers.engine import exec_in
from devdb.database import dbname_conninfo
from devdb.errors import DevDbError

if TYPE_CHECKING:
    from docker.models.containers import Container


@dataclass(frozen=True)
class ExtensionUpdate:
    database: str
    before: str | None  # None: the database has no timescaledb extension
    after: str | None


def psql(
    container: Container, user: str, database: str, sql: str
) -> tuple[int, str, str]:
    """One fresh session over the Unix socket: -X, so nothing runs before ``sql``."""
    return exec_in(
        container,
        [
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-U",
            user,
            "-d",
            dbname_conninfo(database),
            "-c",
            sql,
        ],
    )


def installed_version(container: Container, user: str, database: str) -> str | None:
    code, out, err = psql(
        container,
        user,
        database,
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
    )
    if code != 0:
        raise DevDbError(
            f"could not read the TimescaleDB version of database '{database}': "
            f"{err.strip().splitlines()[0] if err.strip() else f'exit {code}'}",
            "check the server is up (`invoke db.status`) and its log (`invoke db.logs`)",
        )
    return out.strip() or None


def connectable_databases(container: Container, user: str) -> list[str]:
    code, out, err = psql(
        container,
        user,
        "postgres",
        # One name per line, quoted as a literal: a name may hold a space.
        "SELECT quote_literal(datname) FROM pg_database WHERE datallowconn"
        " ORDER BY datname",
    )
    if code != 0:
        raise DevDbError(
            f"could not list the databases: {err.strip() or f'exit {code}'}",
            "check the server is up (`invoke db.status`) and its log (`invoke db.logs`)",
        )
    return [literal_value(line) for line in out.splitlines() if line]


def literal_value(literal: str) -> str:
    """The text of a quote_literal() result ('it''s' -> it's; E'a\\b' -> a\b)."""
    if literal.startswith("E'"):
        return literal[2:-1].replace("''", "'").replace("\\\\", "\\")
    return literal[1:-1].replace("''", "'")


def update_extension(container: Container, user: str) -> list[ExtensionUpdate]:
    """``ALTER EXTENSION timescaledb UPDATE`` in every database that has it."""
    results: list[ExtensionUpdate] = []
    for database in connectable_databases(container, user):
        before = installed_version(container, user, database)
        if before is None:
            results.append(ExtensionUpdate(database, None, None))
            continue
        code, _, err = psql(
            container, user, database, "ALTER EXTENSION timescaledb UPDATE"
        )
        if code != 0:
            reason = next(
                (line for line in err.splitlines() if line.startswith("ERROR")),
                err.strip() or f"exit {code}",
            )
            raise DevDbError(
                f"updating TimescaleDB in database '{database}' failed: {reason}",
                "does the image carry the old version's libraries? `invoke image.list` "
                "shows what each image carries; databases before this one are updated",
            )
        results.append(
            ExtensionUpdate(
                database, before, installed_version(container, user, database)
            )
        )
    return results
