"""Wait until the database really answers: a query over TCP, not a log line.

The image's init server listens on the Unix socket only, so `pg_isready` inside the
container says "ready" while initdb scripts still run (docker-library/postgres#146).
A TCP connection that runs `SELECT 1` is only answered by the real server.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from devdb.containers.engine import last_log_lines
from devdb.errors import DevDbError

if TYPE_CHECKING:
    from docker.models.containers import Container

# Short enough that `db.up` notices a ready server within tens of milliseconds;
# a refused connection costs microseconds, so the loop is cheap.
POLL_SECONDS = 0.05
CONTAINER_CHECK_SECONDS = 0.5

# Answers that mean "not yet": retry. Anything else is final.
TRANSIENT = (
    "Connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
    "Connection reset by peer",
    "timeout expired",
    "No route to host",
)


def try_query(
    host: str, port: int, user: str, password: str, database: str
) -> str | None:
    """None when `SELECT 1` succeeded, else the server's or libpq's reason."""
    import psycopg2

    try:
        connection = psycopg2.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            dbname=database,
            connect_timeout=2,
            application_name="devdb-readiness",
        )
    except psycopg2.OperationalError as error:
        return str(error).strip()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return None
    except psycopg2.Error as error:
        return str(error).strip()
    finally:
        connection.close()


def wait_until_ready(
    container: Container,
    *,
    port: int,
    user: str,
    password: str,
    database: str,
    timeout: float,
    host: str = "127.0.0.1",
) -> float:
    """Block until the server in ``container`` answers on ``host``:``port``.

    ``host`` is where the engine publishes: loopback for a local engine, the
    engine's host for a remote one (``Settings.engine_address``).

    Returns the seconds waited. Raises DevDbError with the container's last log
    lines when it exits, refuses us for good, or stays silent past ``timeout``.
    """
    started = time.monotonic()
    deadline = started + timeout
    next_container_check = started
    reason = "no answer yet"
    while True:
        reason = try_query(host, port, user, password, database) or ""
        if not reason:
            return time.monotonic() - started
        if not any(marker in reason for marker in TRANSIENT):
            raise refused_for_good(container, reason, user, database)
        now = time.monotonic()
        if now >= next_container_check:
            container.reload()
            if container.status not in ("running", "created", "restarting"):
                raise DevDbError(
                    f"the database container {container.name} stopped while starting "
                    f"(state: {container.status}); its last log lines:\n"
                    + last_log_lines(container),
                    "fix what the log says (free disk space; switch back to the image "
                    "the volume was made with) and `invoke db.up` again: the data is "
                    "kept; `invoke db.destroy` deletes the data and starts empty",
                )
            next_container_check = now + CONTAINER_CHECK_SECONDS
        if now >= deadline:
            raise DevDbError(
                f"the database in {container.name} did not answer a query on "
                f"{host}:{port} within {timeout:g} s ({first_reason_line(reason)}); "
                "its last log lines:\n" + last_log_lines(container),
                "wait and retry `invoke db.up`, raise DEVDB_READY_TIMEOUT, or read "
                "`invoke db.logs`",
            )
        time.sleep(POLL_SECONDS)


def first_reason_line(reason: str) -> str:
    return reason.splitlines()[0] if reason else "no answer"


def refused_for_good(
    container: Container, reason: str, user: str, database: str
) -> DevDbError:
    if "password authentication failed" in reason:
        return DevDbError(
            f"the database in {container.name} rejected the password for user '{user}'",
            "its volume was initialised with another password: set that one "
            "(DEVDB_PASSWORD or devdb.local.toml), or `invoke db.destroy --yes` "
            "to start afresh (this deletes the data)",
        )
    if "does not exist" in reason:
        return DevDbError(
            f"the database in {container.name} has no role or database for "
            f"user '{user}' / database '{database}' ({first_reason_line(reason)})",
            "its volume was initialised with other settings: restore them, or "
            "`invoke db.destroy --yes` to start afresh (this deletes the data)",
        )
    return DevDbError(
        f"the database in {container.name} refused the connection: "
        f"{first_reason_line(reason)}",
        "read `invoke db.logs`, fix what it says, then `invoke db.up` (the data is "
        "kept); `invoke db.destroy --yes` deletes the data and starts afresh",
    )
