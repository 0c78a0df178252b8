"""Clones of the template, one per test: made, dropped, kept, and reaped.

One ``TestDatabases`` per process (each pytest-xdist process has its own). It
holds a connection to the server's maintenance database for its whole life; on it,
an advisory lock says the process is alive (its clones' names start with its
owner prefix), and the template's lock is held shared. A process that finds
another owner's lock free knows that owner is gone (finished or crashed) and drops
what it left, except a failed test's database kept by a run still going.

A clone is ``CREATE DATABASE ... TEMPLATE`` with PostgreSQL's default strategy
(WAL_LOG: the template's blocks through the WAL, no checkpoint; FILE_COPY was
slower in the dev container, measured here). CREATE DATABASE always commits
synchronously, whatever ``synchronous_commit`` says, and DROP DATABASE forces a
checkpoint that writes the clones' dirty pages: on a server that fsyncs (the dev
container) a test's clone and drop cost 60 to 290 ms on this machine's disk
(dropping at the end only moves that cost into one long checkpoint), and on a
throwaway (tmpfs, fsync off) about 15 ms. What
CREATE DATABASE does not copy (per-database settings) is set on each clone;
TimescaleDB jobs stay off unless the test asks for them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devdb.database import quote_identifier
from devdb.errors import DevDbError, first_line
from devdb.testdb import naming
from devdb.testdb import server as servers
from devdb.testdb import template as templates
from devdb.testdb.database_settings import copy_settings, read_settings

if TYPE_CHECKING:
    from devdb.settings import Settings
    from devdb.testdb.server import TestServer

# "source database ... is being accessed by other users": PostgreSQL has already
# waited 5 s for them before saying so; a few more tries, then it is an error.
CLONE_RETRY_SECONDS = 15.0
OWNER_LOCK_SECONDS = 5.0


@dataclass(frozen=True, repr=False)
class TestDatabase:
    """One test's database: its name and how to reach it.

    ``url``: ``postgresql://`` with the password (psycopg2, SQLAlchemy);
    ``async_url``: ``postgresql+asyncpg://`` (SQLAlchemy's asyncio engine);
    ``safe_url``: for people, password hidden; ``settings``: the toolkit's own
    Settings aimed at it. The repr never shows the password.
    """

    name: str
    url: str
    async_url: str
    safe_url: str
    settings: Settings
    server: TestServer

    __test__ = False

    def __repr__(self) -> str:
        return f"TestDatabase({self.safe_url})"

    def inspect_hint(self) -> str:
        """How a person reaches it after the run (no password needed)."""
        if self.server.container_name:
            return (
                f"docker exec -it {self.server.container_name} psql "
                f"-U {self.settings.user} -d {self.name}"
            )
        return f"psql '{self.safe_url}' (the password of the server's URL)"


def database_urls(settings: Settings) -> tuple[str, str]:
    """(libpq-style URL, asyncpg URL) of the database ``settings`` name."""
    url = settings.url()
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # asyncpg takes ssl= where libpq takes sslmode=; libpq's other parameters
    # mean nothing to it and are left out.
    sslmode = [value for name, value in settings.query if name == "sslmode"]
    asynchronous = url.set(
        drivername="postgresql+asyncpg",
        query={"ssl": sslmode[0]} if sslmode else {},
    ).render_as_string(hide_password=False)
    return plain, asynchronous


def clone(
    cursor: Any,
    template: str,
    name: str,
    *,
    when_busy: Callable[[], object] | None = None,
    file_copy: bool = False,
) -> int:
    """CREATE DATABASE ``name`` from ``template``; the tries it took beyond one.

    ``when_busy`` runs before each new try (ending the sessions in the way).
    ``file_copy``: copy the files (STRATEGY FILE_COPY, two checkpoints) rather
    than WAL-log every block: faster for a database of hundreds of megabytes.
    """
    import psycopg2

    deadline = time.monotonic() + CLONE_RETRY_SECONDS
    pause, retries = 0.02, 0
    while True:
        try:
            cursor.execute(
                f"CREATE DATABASE {quote_identifier(name)} "
                f"TEMPLATE {quote_identifier(template)}"
                + (" STRATEGY FILE_COPY" if file_copy else "")
            )
            return retries
        except psycopg2.errors.ObjectInUse as error:
            if time.monotonic() > deadline:
                raise DevDbError(
                    f"could not clone {template} into {name} for "
                    f"{CLONE_RETRY_SECONDS:g} s: {first_line(str(error))}",
                    "something keeps connecting to the template: see "
                    "pg_stat_activity for its sessions (a sealed template allows "
                    "none; TimescaleDB before 2.19.1 ignores that)",
                ) from None
        except psycopg2.Error as error:
            raise DevDbError(
                f"could not clone {template} into {name}: {first_line(str(error))}",
                "the server's user needs CREATEDB; see the server's log",
            ) from None
        retries += 1
        if when_busy is not None:
            when_busy()
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


@dataclass
class Stats:
    """What one process did, for the run's one-line summary."""

    server: str = ""
    kind: str = ""
    template: str = ""
    built: bool = False
    template_seconds: float = 0.0
    clone_seconds: list[float] = field(default_factory=list)
    drop_seconds: list[float] = field(default_factory=list)
    failures: int = 0
    retries: int = 0
    kept: list[str] = field(default_factory=list)
    reaped: int = 0
    removed_templates: list[str] = field(default_factory=list)

    def seconds(self) -> float:
        return self.template_seconds + sum(self.clone_seconds) + sum(self.drop_seconds)


class TestDatabases:
    """Hands out clones of one template on one server (see the module docstring)."""

    __test__ = False

    def __init__(
        self,
        server: TestServer,
        connection: Any,
        template: templates.Template,
        owner: str,
    ) -> None:
        self.server = server
        self.connection = connection
        self.cursor = connection.cursor()
        self.template = template
        self.owner = owner
        self.numbers = itertools.count(1)
        self.stats = Stats(
            server=server.description,
            kind=server.kind,
            template=template.name,
            built=template.built,
            template_seconds=template.seconds,
        )

    def create(self, *, jobs: bool = False) -> TestDatabase:
        """A new clone at head; ``jobs``: its TimescaleDB jobs scheduled again."""
        import psycopg2

        name = naming.clone_name(self.owner, next(self.numbers))
        started = time.perf_counter()
        target = replace(self.server.settings, database=name)
        try:
            self.stats.retries += clone(self.cursor, self.template.name, name)
            copy_settings(self.cursor, self.template.database_settings, name)
            if jobs and self.template.record.jobs:
                inside = servers.connect(self.server, name)
                try:
                    templates.schedule_jobs(inside.cursor(), self.template.record.jobs)
                finally:
                    inside.close()
        except psycopg2.Error as error:
            self.stats.failures += 1
            raise DevDbError(
                f"could not prepare the test database {name}: {first_line(str(error))}",
                f"see the server's log ({self.server.description})",
            ) from None
        except BaseException:
            self.stats.failures += 1
            raise
        self.stats.clone_seconds.append(time.perf_counter() - started)
        url, async_url = database_urls(target)
        return TestDatabase(
            name, url, async_url, target.safe_url(), target, self.server
        )

    def drop(self, database: TestDatabase) -> None:
        started = time.perf_counter()
        self.cursor.execute(
            f"DROP DATABASE IF EXISTS {quote_identifier(database.name)} WITH (FORCE)"
        )
        self.stats.drop_seconds.append(time.perf_counter() - started)

    def keep(self, database: TestDatabase, test: str) -> None:
        """Leave a failed test's database for inspection, saying whose it is."""
        self.cursor.execute(
            f"COMMENT ON DATABASE {quote_identifier(database.name)} IS %s",
            (naming.kept_comment(test)[:1000],),
        )
        self.stats.kept.append(database.name)

    def close(self) -> None:
        """Let go of the locks (the template may be removed, the owner is gone)."""
        servers.close_quietly(self.connection)


def reap_clones(cursor: Any, own_owner: str) -> int:
    """Drop the clones of processes that are gone; return how many.

    Kept clones of the run still going (its owner prefix's run part) stay: a
    process of this run that already ended may have kept one.
    """
    run = own_owner[: len(naming.CLONE_PREFIX) + 8]
    cursor.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        " WHERE datname LIKE 'devdb\\_t\\_%' ORDER BY 1"
    )
    by_owner: dict[str, list[tuple[str, str | None]]] = {}
    for name, comment in cursor.fetchall():
        owner = naming.owner_of(name)
        if owner is not None and owner != own_owner:
            by_owner.setdefault(owner, []).append((name, comment))
    reaped = 0
    for owner, databases in by_owner.items():
        key = naming.lock_key(owner)
        if not templates.try_lock(cursor, key):
            continue  # its process is alive
        try:
            for name, comment in databases:
                if naming.is_kept(comment) and owner.startswith(run):
                    continue
                cursor.execute(
                    f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)"
                )
                reaped += 1
        finally:
            templates.unlock(cursor, key)
    return reaped


def open_test_databases(
    settings: Settings,
    *,
    where: str = "auto",
    url: str = "",
    allow_remote: bool = False,
    run_uid: str,
    worker: str = "main",
    owner_pid: int,
    script_location: Path | None = None,
) -> TestDatabases:
    """Choose the server, clean up after gone runs, get the template: ready to clone."""
    server = servers.choose_server(
        settings, where, url=url, run_uid=run_uid, owner_pid=owner_pid
    )
    # Servers of runs that crashed (or kept one for a failed test) go first.
    gone = len(servers.reap_throwaways()) if server.kind != "url" else 0
    connection = servers.connect(server)
    try:
        servers.refuse_remote(server, connection, allow_remote=allow_remote)
        cursor = connection.cursor()
        owner = naming.owner_prefix(run_uid, worker)
        templates.advisory_lock(
            cursor,
            naming.lock_key(owner),
            shared=False,
            wait_seconds=OWNER_LOCK_SECONDS,
            waiting_for=f"the test databases {owner}_*",
        )
        reaped = reap_clones(cursor, owner)
        template = templates.ensure_template(
            connection,
            server,
            script_location or settings.script_location,
            wait_seconds=settings.migration_lock_wait,
        )
        removed = templates.remove_stale_templates(cursor, template.name)
    except BaseException:
        servers.close_quietly(connection)
        raise
    databases = TestDatabases(server, connection, template, owner)
    databases.stats.reaped = reaped + gone
    databases.stats.removed_templates = removed
    return databases


def create_from_head_template(settings: Settings, database: str) -> str | None:
    """Create ``database`` as a clone of the head template on its server, if one
    is there; the template's name, or None when there is none.

    The dev database at head without running a migration: ``db.reset`` uses it.
    Its TimescaleDB jobs are scheduled as its revisions left them.
    """
    server = servers.TestServer(
        "dev", servers.maintenance(settings), settings.safe_url()
    )
    connection = servers.connect(server)
    try:
        cursor = connection.cursor()
        fingerprint = naming.template_fingerprint(
            settings.script_location,
            templates.server_facts(cursor),
            templates.shaping_settings(server),
        )
        name = naming.template_name(fingerprint)
        if templates.sealed_record(cursor, name, fingerprint) is None:
            return None
        templates.advisory_lock(
            cursor,
            naming.lock_key(name),
            shared=True,
            wait_seconds=settings.migration_lock_wait,
            waiting_for=name,
        )
        record = templates.sealed_record(cursor, name, fingerprint)
        if record is None:
            return None  # removed a moment ago
        clone(cursor, name, database)
        try:
            copy_settings(cursor, read_settings(cursor, name), database)
            inside = servers.connect(server, database)
            try:
                templates.schedule_jobs(inside.cursor(), record.jobs)
            finally:
                inside.close()
        except BaseException:
            # Half made is not made: the caller may create it another way.
            cursor.execute(
                f"DROP DATABASE IF EXISTS {quote_identifier(database)} WITH (FORCE)"
            )
            raise
        return name
    finally:
        servers.close_quietly(connection)
