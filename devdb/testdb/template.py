"""A template at head: found, or built once per server under a lock, and sealed.

Every process of every run asks for the template its revision files, server and
settings name (``naming.template_fingerprint``). The first takes the template's
advisory lock exclusively and builds it: an empty database under a scratch name,
``alembic upgrade head``, checked at head, its TimescaleDB jobs unscheduled
(recorded, so a clone that asks gets them back), sealed (ALLOW_CONNECTIONS false,
IS_TEMPLATE true), renamed. The others wait on the lock and find it built. A
process using a template holds its lock shared for as long as it clones from it,
so removing a stale template (exclusive, never waited for) cannot pull one from
under a run of another checkout.

Sealing is what keeps TimescaleDB's scheduler away: since 2.19.1 it skips a
database that allows no connections (timescale/timescaledb PR #7834), and
``CREATE DATABASE ... TEMPLATE`` fails while anyone is connected to the template
(timescale/timescaledb#4048). The scheduler may still be in the scratch database
when it is sealed, so its sessions are ended before the rename.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devdb.database import quote_identifier
from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.schema.revisions import heads as revision_heads
from devdb.testdb import naming
from devdb.testdb.database_settings import Setting, read_settings
from devdb.testdb.naming import LOCK_CLASS, ServerFacts, TemplateRecord

if TYPE_CHECKING:
    from devdb.testdb.server import TestServer

# How long a rename waits for sessions it ended to go (PostgreSQL itself waits up
# to 5 s per attempt for them).
RENAME_SECONDS = 30.0
LOCK_TIMEOUT_CODE = "55P03"


@dataclass(frozen=True)
class Template:
    name: str
    record: TemplateRecord
    built: bool  # this process built it
    seconds: float  # what getting it cost this process (building or waiting)
    # (role or None, setting, value): what CREATE DATABASE does not copy
    database_settings: tuple[Setting, ...] = ()


def server_facts(cursor: Any) -> ServerFacts:
    cursor.execute(
        "SELECT current_setting('server_version'),"
        " coalesce((SELECT default_version FROM pg_available_extensions"
        "            WHERE name = 'timescaledb'), ''),"
        " coalesce(current_setting('timescaledb.license', true), '')"
    )
    postgres, timescaledb, licence = cursor.fetchone()
    return ServerFacts(str(postgres), str(timescaledb), str(licence))


def shaping_settings(server: TestServer) -> dict[str, str]:
    """The settings that shape the schema: the role that owns what revisions make."""
    return {"user": server.settings.user}


def advisory_lock(
    cursor: Any, key: int, *, shared: bool, wait_seconds: float, waiting_for: str
) -> None:
    """Take (LOCK_CLASS, key), waiting at most ``wait_seconds`` (lock_timeout)."""
    import psycopg2

    function = "pg_advisory_lock_shared" if shared else "pg_advisory_lock"
    cursor.execute(
        "SELECT set_config('lock_timeout', %s, false)", (f"{wait_seconds}s",)
    )
    try:
        cursor.execute(f"SELECT {function}(%s, %s)", (LOCK_CLASS, key))
    except psycopg2.Error as error:
        if getattr(error, "pgcode", None) != LOCK_TIMEOUT_CODE:
            raise
        raise DevDbError(
            f"waited {wait_seconds:g} s for {waiting_for}",
            "let the other test run finish (or stop it) and run again; "
            "DEVDB_MIGRATION_LOCK_WAIT sets how long to wait",
        ) from None
    finally:
        cursor.execute("SET lock_timeout = 0")


def try_lock(cursor: Any, key: int) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, key))
    return bool(cursor.fetchone()[0])


def unlock(cursor: Any, key: int, *, shared: bool = False) -> None:
    function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
    cursor.execute(f"SELECT {function}(%s, %s)", (LOCK_CLASS, key))


def database_comment(cursor: Any, name: str) -> tuple[bool, str | None] | None:
    """(is a template, its comment) of a database, or None when there is none."""
    cursor.execute(
        "SELECT datistemplate, shobj_description(oid, 'pg_database')"
        "  FROM pg_database WHERE datname = %s",
        (name,),
    )
    row = cursor.fetchone()
    return None if row is None else (bool(row[0]), row[1])


def sealed_record(cursor: Any, name: str, fingerprint: str) -> TemplateRecord | None:
    found = database_comment(cursor, name)
    if found is None or not found[0]:
        return None
    record = TemplateRecord.from_comment(found[1])
    return record if record and record.fingerprint == fingerprint else None


def ensure_template(
    connection: Any, server: TestServer, script_location: Path, *, wait_seconds: float
) -> Template:
    """The template at head for ``script_location`` on ``server``: found or built.

    ``connection`` (autocommit, on the maintenance database) keeps holding the
    template's lock shared when this returns; closing it lets the template go.
    """
    started = time.perf_counter()
    cursor = connection.cursor()
    fingerprint = naming.template_fingerprint(
        script_location, server_facts(cursor), shaping_settings(server)
    )
    name = naming.template_name(fingerprint)
    key = naming.lock_key(name)
    deadline = time.monotonic() + wait_seconds
    built = False
    while True:
        # Shared: granted at once unless a builder holds it exclusively, and then
        # as soon as the build is done.
        advisory_lock(
            cursor,
            key,
            shared=True,
            wait_seconds=max(0.1, deadline - time.monotonic()),
            waiting_for=f"another test run building the template {name}",
        )
        record = sealed_record(cursor, name, fingerprint)
        if record is not None:
            break
        unlock(cursor, key, shared=True)
        # Missing: whoever gets it exclusively builds it; the others go round.
        if try_lock(cursor, key):
            try:
                record = sealed_record(cursor, name, fingerprint)
                if record is None:
                    record = build(cursor, server, script_location, name, fingerprint)
                    built = True
                # One session may hold both: the shared one outlives the other.
                advisory_lock(
                    cursor,
                    key,
                    shared=True,
                    wait_seconds=wait_seconds,
                    waiting_for=name,
                )
            finally:
                unlock(cursor, key)
            break
        if time.monotonic() > deadline:
            raise DevDbError(
                f"waited {wait_seconds:g} s for another test run building the "
                f"template {name}",
                "let the other test run finish (or stop it) and run again; "
                "DEVDB_MIGRATION_LOCK_WAIT sets how long to wait",
            )
        time.sleep(0.05)
    return Template(
        name,
        record,
        built,
        time.perf_counter() - started,
        read_settings(cursor, name),
    )


def build(
    cursor: Any,
    server: TestServer,
    script_location: Path,
    name: str,
    fingerprint: str,
) -> TemplateRecord:
    """Build ``name`` under its scratch name, check, seal and rename it."""
    started = time.perf_counter()
    scratch = naming.build_name(name)
    drop_database(cursor, scratch)  # a crashed build's; we hold the lock
    cursor.execute(f"CREATE DATABASE {quote_identifier(scratch)} TEMPLATE template0")
    # exact_target: the template is no dev database, so it keeps no journal.
    target = replace(server.settings, database=scratch, exact_target=True)
    migrations.upgrade(target, "head", script_location=str(script_location))
    wanted = tuple(sorted(revision_heads(script_location)))
    from devdb.testdb.server import connect

    inside = connect(server, scratch)
    try:
        with inside.cursor() as scratch_cursor:
            scratch_cursor.execute("SELECT version_num FROM alembic_version")
            reached = tuple(sorted(row[0] for row in scratch_cursor.fetchall()))
            if reached != wanted:
                raise DevDbError(
                    f"the template {name} reached revision(s) "
                    f"{', '.join(reached) or 'none'} instead of the head "
                    f"{', '.join(wanted)}",
                    "check the revisions with `invoke db.history`; a revision that "
                    "stamps or deletes alembic_version is the usual cause",
                )
            jobs = unschedule_jobs(scratch_cursor)
    finally:
        inside.close()
    seal(cursor, scratch)
    rename(cursor, scratch, name)
    record = TemplateRecord(
        fingerprint=fingerprint,
        heads=wanted,
        jobs=jobs,
        build_seconds=round(time.perf_counter() - started, 3),
    )
    cursor.execute(
        f"COMMENT ON DATABASE {quote_identifier(name)} IS %s", (record.as_comment(),)
    )
    return record


def unschedule_jobs(cursor: Any) -> tuple[int, ...]:
    """Turn off the TimescaleDB jobs left scheduled; return their ids."""
    cursor.execute("SELECT to_regclass('timescaledb_information.jobs') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return ()
    cursor.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE scheduled ORDER BY 1"
    )
    jobs = tuple(int(row[0]) for row in cursor.fetchall())
    for job in jobs:
        cursor.execute("SELECT alter_job(%s, scheduled => false)", (job,))
    return jobs


def schedule_jobs(cursor: Any, jobs: tuple[int, ...]) -> None:
    for job in jobs:
        cursor.execute("SELECT alter_job(%s, scheduled => true)", (job,))


def end_sessions(cursor: Any, database: str) -> None:
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    )


def seal(cursor: Any, database: str) -> None:
    """No connection from now on (the scheduler's included), and cloneable."""
    cursor.execute(
        f"ALTER DATABASE {quote_identifier(database)}"
        " WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
    )
    end_sessions(cursor, database)


def rename(cursor: Any, old: str, new: str) -> None:
    """Rename a database whose sessions are being ended, retrying within a bound."""
    import psycopg2

    deadline = time.monotonic() + RENAME_SECONDS
    while True:
        try:
            cursor.execute(
                f"ALTER DATABASE {quote_identifier(old)} RENAME TO "
                f"{quote_identifier(new)}"
            )
            return
        except psycopg2.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            end_sessions(cursor, old)
            time.sleep(0.1)


def drop_database(cursor: Any, name: str) -> None:
    """Drop a database (a template too) and end its sessions; gone is fine."""
    if database_comment(cursor, name) is None:
        return
    cursor.execute(f"ALTER DATABASE {quote_identifier(name)} IS_TEMPLATE false")
    cursor.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")


def remove_stale_templates(cursor: Any, keep: str) -> list[str]:
    """Drop the other templates and leftover builds no run is using right now.

    One in use (its lock held shared by a run of another checkout, say) is left
    for a later run to remove.
    """
    cursor.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        " WHERE datname LIKE 'devdb\\_tpl\\_%' ORDER BY 1"
    )
    removed = []
    for name, comment in cursor.fetchall():
        if name == keep:
            continue
        if naming.is_build_name(name):
            owner = name.removesuffix(naming.BUILD_SUFFIX)
        elif naming.is_template_name(name) and TemplateRecord.from_comment(comment):
            owner = name
        else:
            continue
        key = naming.lock_key(owner)
        if not try_lock(cursor, key):
            continue
        try:
            drop_database(cursor, name)
            removed.append(name)
        finally:
            unlock(cursor, key)
    return removed
