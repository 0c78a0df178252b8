"""Dev-data snapshots: the dev database copied aside in seconds, and put back whole.

``db.snapshot NAME`` is ``CREATE DATABASE devdb_snap_NAME TEMPLATE <dev db>``:
the server copies the files, far faster than re-seeding. The copy needs the dev
database to itself for that moment, so its sessions (the app's, psql's,
TimescaleDB's scheduler) are ended first, and again if one comes back. The
snapshot is sealed like a test template (no connections: the scheduler stays out
and nothing changes it) and remembers in its comment the revision(s) it was at
and when it was taken; the dev database's per-database settings, which CREATE
DATABASE does not copy, go with it.

``db.restore NAME`` never leaves the dev database half-restored: the copy is built
aside under a scratch name, then one transaction renames the dev database away
and the copy into its place. An interruption before that commit leaves the dev
database as it was; after it, the old one is only dropped. What an interrupted
restore left behind (the copy aside, the old database) goes at the next snapshot
command, under the same lock that keeps two of them from running at once.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from devdb.database import quote_identifier
from devdb.errors import DevDbError, first_line
from devdb.safety import confirm_destructive, refuse_non_local
from devdb.testdb import naming
from devdb.testdb import server as servers
from devdb.testdb import template as templates
from devdb.testdb.clones import clone
from devdb.testdb.database_settings import copy_settings, read_settings

if TYPE_CHECKING:
    from devdb.settings import Settings

PREFIX = "devdb_snap_"
ASIDE_PREFIX = "devdb_restore_"
RETIRED_PREFIX = "devdb_retired_"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SWAP_SECONDS = 30.0
LOCK_SECONDS = 60.0


@dataclass(frozen=True)
class Snapshot:
    name: str
    revisions: tuple[str, ...]
    taken_at: float
    size_bytes: int
    source: str  # the database it was taken of

    @property
    def database(self) -> str:
        return PREFIX + self.name


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise DevDbError(
            f"{name!r} is not a snapshot name",
            "use up to 40 lowercase letters, digits, '-' and '_', starting with a "
            "letter or digit (e.g. before-002)",
        )
    return name


def server_of(settings: Settings) -> servers.TestServer:
    return servers.TestServer("dev", servers.maintenance(settings), settings.safe_url())


def open_locked(settings: Settings, action: str, *, force: bool) -> Any:
    """A maintenance connection holding the snapshot lock, once the target is
    known to be this machine's (or ``force``); leftovers of interrupted restores
    are dropped under the lock."""
    refuse_non_local(settings, action, force=force)
    connection = servers.connect(server_of(settings))
    try:
        # Decided again from where the connection really went: libpq follows
        # hostaddr, host lists and service files, whatever the host name says.
        refuse_non_local(
            settings, action, force=force, verdict=servers.reached(connection)
        )
        cursor = connection.cursor()
        templates.advisory_lock(
            cursor,
            naming.lock_key(f"snapshots:{settings.database}"),
            shared=False,
            wait_seconds=LOCK_SECONDS,
            waiting_for="another snapshot command on this database",
        )
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devdb\\_restore\\_%'"
            " OR datname LIKE 'devdb\\_retired\\_%'"
        )
        for (leftover,) in cursor.fetchall():
            cursor.execute(
                f"DROP DATABASE IF EXISTS {quote_identifier(leftover)} WITH (FORCE)"
            )
    except BaseException:
        servers.close_quietly(connection)
        raise
    return connection


def current_revisions(settings: Settings) -> tuple[str, ...] | None:
    """The dev database's revision(s); None when it does not exist."""
    import psycopg2

    try:
        connection = servers.connect(server_of(settings), settings.database)
    except DevDbError as error:
        if "does not exist" in error.message:
            return None
        raise
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return ()
            cursor.execute("SELECT version_num FROM alembic_version ORDER BY 1")
            return tuple(row[0] for row in cursor.fetchall())
    except psycopg2.Error:
        return ()
    finally:
        connection.close()


def snapshot(settings: Settings, name: str = "", *, force: bool = False) -> Snapshot:
    """Copy the dev database into the snapshot ``name`` (default: the time)."""
    name = check_name(name or time.strftime("%Y%m%d-%H%M%S"))
    connection = open_locked(settings, f"snapshot '{settings.database}'", force=force)
    try:
        cursor = connection.cursor()
        revisions = current_revisions(settings)
        if revisions is None:
            raise DevDbError(
                f"the database '{settings.database}' does not exist; there is "
                "nothing to snapshot",
                "create it with `invoke db.up`",
            )
        target = PREFIX + name
        if templates.database_comment(cursor, target) is not None:
            raise DevDbError(
                f"there is already a snapshot '{name}'",
                f"choose another name, or drop it first: `invoke db.snapshot --drop "
                f"{name}`",
            )
        # The copy needs the database to itself: its sessions end, and again
        # while they come back.
        templates.end_sessions(cursor, settings.database)
        clone(
            cursor,
            settings.database,
            target,
            when_busy=lambda: templates.end_sessions(cursor, settings.database),
            file_copy=True,
        )
        copy_settings(cursor, read_settings(cursor, settings.database), target)
        templates.seal(cursor, target)
        taken = Snapshot(name, revisions, time.time(), 0, settings.database)
        record = {
            "devdb": "snapshot",
            "name": name,
            "revisions": list(revisions),
            "taken_at": taken.taken_at,
            "source": settings.database,
        }
        cursor.execute(
            f"COMMENT ON DATABASE {quote_identifier(target)} IS %s",
            (json.dumps(record, sort_keys=True),),
        )
        cursor.execute("SELECT pg_database_size(%s)", (target,))
        return replace(taken, size_bytes=int(cursor.fetchone()[0]))
    finally:
        connection.close()


def read_snapshots(cursor: Any) -> list[Snapshot]:
    cursor.execute(
        "SELECT datname, shobj_description(oid, 'pg_database'),"
        "       pg_database_size(oid)"
        "  FROM pg_database WHERE datname LIKE 'devdb\\_snap\\_%' AND datistemplate"
    )
    found = []
    for _database, comment, size in cursor.fetchall():
        try:
            record = json.loads(comment or "")
            if record.get("devdb") != "snapshot":
                continue
            found.append(
                Snapshot(
                    str(record["name"]),
                    tuple(str(r) for r in record["revisions"]),
                    float(record["taken_at"]),
                    int(size),
                    str(record.get("source", "")),
                )
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # not one of ours, whatever its name says
    return sorted(found, key=lambda s: s.taken_at, reverse=True)


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """The snapshots on the dev database's server, newest first."""
    connection = servers.connect(server_of(settings))
    try:
        return read_snapshots(connection.cursor())
    finally:
        connection.close()


def find(cursor: Any, name: str) -> Snapshot:
    snapshots = read_snapshots(cursor)
    if not snapshots:
        raise DevDbError(
            "there are no snapshots", "take one with `invoke db.snapshot NAME`"
        )
    if not name:
        return snapshots[0]
    for candidate in snapshots:
        if candidate.name == name:
            return candidate
    raise DevDbError(
        f"there is no snapshot '{name}'",
        "`invoke db.snapshots` lists them: " + ", ".join(s.name for s in snapshots[:5]),
    )


def drop_snapshot(
    settings: Settings,
    name: str,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> Snapshot:
    check_name(name)
    connection = open_locked(settings, f"drop the snapshot '{name}'", force=force)
    try:
        cursor = connection.cursor()
        found = find(cursor, name)
        confirm_destructive(
            settings,
            f"drop the snapshot '{name}' ({describe(found)})",
            yes=yes,
            force=force,
            ask=ask,
        )
        templates.drop_database(cursor, found.database)
        return found
    finally:
        connection.close()


def describe(snapshot: Snapshot) -> str:
    revisions = ", ".join(snapshot.revisions) or "no revision"
    return f"taken {age(snapshot.taken_at)} ago at revision {revisions}"


def age(moment: float, now: float | None = None) -> str:
    seconds = max(0, int((now or time.time()) - moment))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True)
class Restored:
    snapshot: Snapshot
    previous_revisions: tuple[str, ...] | None  # None: there was no dev database
    seconds: float


def restore(
    settings: Settings,
    name: str = "",
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> Restored:
    """Replace the dev database with a copy of the snapshot ``name`` (the newest
    by default), atomically (see the module docstring)."""
    if name:
        check_name(name)
    action = f"replace the database '{settings.database}' with a snapshot"
    connection = open_locked(settings, action, force=force)
    try:
        cursor = connection.cursor()
        chosen = find(cursor, name)
        before = current_revisions(settings)
        question = (
            f"replace every row of '{settings.database}' with the snapshot "
            f"'{chosen.name}' ({describe(chosen)})"
        )
        if before is not None and before != chosen.revisions:
            question += (
                f"; the snapshot is at revision {', '.join(chosen.revisions) or 'none'}"
                f" but the database is at {', '.join(before) or 'none'}: after "
                "restoring, `invoke db.upgrade` (or a downgrade) brings it to your "
                "revision files"
            )
        confirm_destructive(settings, question, yes=yes, force=force, ask=ask)
        started = time.perf_counter()
        aside = ASIDE_PREFIX + secrets.token_hex(6)
        try:
            clone(cursor, chosen.database, aside, file_copy=True)
            copy_settings(cursor, read_settings(cursor, chosen.database), aside)
            swap(connection, settings.database, aside, exists=before is not None)
        except BaseException:
            cursor.execute(
                f"DROP DATABASE IF EXISTS {quote_identifier(aside)} WITH (FORCE)"
            )
            raise
        return Restored(chosen, before, time.perf_counter() - started)
    finally:
        connection.close()


def swap(connection: Any, database: str, aside: str, *, exists: bool) -> None:
    """Put ``aside`` in ``database``'s place in one transaction; drop the old one."""
    import psycopg2

    retired = RETIRED_PREFIX + secrets.token_hex(6)
    cursor = connection.cursor()
    deadline = time.monotonic() + SWAP_SECONDS
    while True:
        templates.end_sessions(cursor, aside)
        if exists:
            templates.end_sessions(cursor, database)
        connection.autocommit = False
        try:
            if exists:
                cursor.execute(
                    f"ALTER DATABASE {quote_identifier(database)} RENAME TO "
                    f"{quote_identifier(retired)}"
                )
            cursor.execute(
                f"ALTER DATABASE {quote_identifier(aside)} RENAME TO "
                f"{quote_identifier(database)}"
            )
            connection.commit()
            break
        except psycopg2.errors.ObjectInUse as error:
            connection.rollback()
            if time.monotonic() > deadline:
                raise DevDbError(
                    f"could not take '{database}' over: {first_line(str(error))}",
                    "something keeps connecting to it; stop the app (or psql), "
                    "then run again — the database is as it was",
                ) from None
        except BaseException:
            # The server rolls back an unfinished transaction whatever happens
            # here; this only leaves the connection usable for the clean-up.
            with contextlib.suppress(psycopg2.Error):
                connection.rollback()
            raise
        finally:
            with contextlib.suppress(psycopg2.Error):
                connection.autocommit = True
        time.sleep(0.2)
    if exists:
        cursor.execute(
            f"DROP DATABASE IF EXISTS {quote_identifier(retired)} WITH (FORCE)"
        )
