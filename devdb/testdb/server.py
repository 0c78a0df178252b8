"""Where the test databases live: the dev container, a throwaway, or a named server.

- ``auto`` (the default): the running dev container, else a throwaway;
- ``dev``: the running dev container. Its templates and clones sit beside the dev
  database, which is never one of them and never touched;
- ``throwaway``: one container for the whole test run, shared by its pytest-xdist
  processes (found by a name derived from the run's id) and removed when the run
  ends; when a failed test's database is kept, so is the container, until the
  next run removes it;
- ``url``: the server a URL names (its database part: the maintenance database).

Never a server on another machine unless ``allow_remote`` says so: decided from
where the connection really went (its socket's peer), not from the host name in a
URL, because libpq follows ``hostaddr``, host lists, service files and PGHOST.
A throwaway is the run's own, wherever DOCKER_HOST put it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from devdb import labels
from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.containers.dev import running_dev_container
from devdb.database import connection_error
from devdb.database_url import parse_database_url
from devdb.errors import DevDbError, first_line
from devdb.images.fetch import ensure_image
from devdb.images.table import image_spec
from devdb.locality import Place, Verdict

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from devdb.settings import Settings

WHERE = ("auto", "dev", "throwaway", "url")
MAINTENANCE_DATABASE = "postgres"
APPLICATION_NAME = "devdb-testdb"


@dataclass(frozen=True)
class TestServer:
    """A server test databases are made on, and how to reach it."""

    kind: str  # "dev", "throwaway" or "url"
    settings: Settings  # aimed at the maintenance database
    description: str  # for people: "the dev container h20-db"
    container_name: str | None = None

    __test__ = False  # a library class, not a test class for pytest to collect


def choose_server(
    settings: Settings, where: str, *, url: str = "", run_uid: str, owner_pid: int
) -> TestServer:
    """The server ``where`` names (see the module docstring)."""
    if where not in WHERE:
        raise DevDbError(
            f"devdb_server is {where!r}, which is not one of {', '.join(WHERE)}",
            "set devdb_server (or --devdb-server, DEVDB_TEST_SERVER) to auto, dev, "
            "throwaway or url",
        )
    if where == "url":
        return url_server(settings, url)
    if url:
        raise DevDbError(
            f"a test server URL is set, but devdb_server is {where!r}",
            "set devdb_server = url to use that server, or unset the URL",
        )
    if where in ("auto", "dev"):
        try:
            container, aimed = running_dev_container(
                settings, purpose="test databases are made beside the dev database"
            )
        except DevDbError:
            if where == "dev":
                raise
        else:
            return TestServer(
                "dev",
                maintenance(replace(aimed, host=aimed.engine_address)),
                f"the dev container {container.name}",
                container.name,
            )
    return shared_throwaway(settings, run_uid, owner_pid)


def maintenance(settings: Settings) -> Settings:
    return replace(settings, database=MAINTENANCE_DATABASE, exact_target=True)


def url_server(settings: Settings, url: str) -> TestServer:
    if not url.strip():
        raise DevDbError(
            "devdb_server is url, but no server URL is set",
            "set DEVDB_TEST_SERVER_URL (or --devdb-server-url) to "
            "postgresql://USER:PASSWORD@HOST:PORT/postgres",
        )
    parsed = parse_database_url(url)
    target = replace(settings, **parsed)
    return TestServer("url", target, target.safe_url())


def connect(server: TestServer, database: str | None = None) -> Any:
    """A psycopg2 connection in autocommit (CREATE DATABASE needs it), explained."""
    import psycopg2

    target = server.settings
    parameters = {
        "connect_timeout": 5,
        "application_name": APPLICATION_NAME,
        **target.libpq_parameters(),
        "dbname": database or target.database,
    }
    try:
        connection = psycopg2.connect(**parameters)
    except psycopg2.OperationalError as error:
        raise connection_error(target, error, database or target.database) from None
    connection.autocommit = True
    return connection


def reaches_this_machine(connection: Any) -> bool:
    """Whether the connection's socket leads to this machine (a Unix socket or a
    loopback address): where libpq really connected, whatever the URL said."""
    duplicate = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        if duplicate.family == socket.AF_UNIX:
            return True
        peer = ipaddress.ip_address(duplicate.getpeername()[0])
    finally:
        duplicate.close()
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer.is_loopback


def reached(connection: Any) -> Verdict:
    """Where the open connection really went, as the destructive guard asks it."""
    local = reaches_this_machine(connection)
    why = "" if local else "its socket leads to another machine"
    return Verdict(local, (Place("the server this connection reached", local, why),))


def refuse_remote(server: TestServer, connection: Any, *, allow_remote: bool) -> None:
    if server.kind == "throwaway" or allow_remote or reaches_this_machine(connection):
        return
    raise DevDbError(
        f"refusing to make test databases on {server.settings.safe_url()}: the "
        "connection leads to another machine",
        "test databases belong on this machine (the dev container or a throwaway); "
        "if you mean that server, set devdb_allow_remote = true "
        "(or --devdb-allow-remote)",
    )


# --- the run's throwaway --------------------------------------------------------


def run_digest(run_uid: str, purpose: str) -> str:
    return hashlib.sha256(f"{purpose}:{run_uid}".encode()).hexdigest()


def throwaway_name(run_uid: str) -> str:
    return f"devdb-testdb-{run_digest(run_uid, 'name')[:12]}"


def shared_throwaway(settings: Settings, run_uid: str, owner_pid: int) -> TestServer:
    """The run's throwaway server: the first process creates it, the others find it.

    Its password comes from the run's id, which only the run's processes know;
    it listens on 127.0.0.1 with a local engine, like every throwaway.
    """
    import docker.errors

    client = containers.docker_client()
    spec = image_spec(settings.image)
    name = throwaway_name(run_uid)
    password = run_digest(run_uid, "password")[:32]
    container = None
    # Docker reserves a name before the container can be found by it: a process
    # that lost the race looks again, a few times, a moment later.
    deadline = time.monotonic() + 30
    while True:
        container = containers.find_container(client, name)
        if container is not None:
            break
        image_ref = ensure_image(
            client, spec, settings.image_source, mirror=settings.debian_mirror
        )
        try:
            container = containers.start_throwaway(
                client,
                spec,
                image_ref,
                password=password,
                user=settings.user,
                database=MAINTENANCE_DATABASE,
                address=containers.publish_address(settings),
                # As in the dev container: the scheduler runs, and a test may ask
                # for its jobs.
                background_workers=True,
                name=name,
                extra_labels={
                    labels.TESTDB_RUN: run_digest(run_uid, "name")[:12],
                    labels.TESTDB_PID: str(owner_pid),
                    labels.TESTDB_HOST: socket.gethostname(),
                },
            )
            break
        except docker.errors.APIError as error:
            # 409: another process of the run made it a moment ago (look again;
            # if its start failed, it is gone and this one tries).
            if error.status_code != 409 or time.monotonic() > deadline:
                raise DevDbError(
                    f"could not start the test server {name}: "
                    f"{first_line(str(error.explanation or error))}",
                    "see `docker ps -a` and the engine's log; or make test "
                    "databases in the dev container: `invoke db.up`",
                ) from None
            time.sleep(0.2)
    assert container is not None, "found or started above"
    port = wait_for_port(container, settings.ready_timeout)
    host = settings.engine_address
    readiness.wait_until_ready(
        container,
        port=port,
        user=settings.user,
        password=password,
        database=MAINTENANCE_DATABASE,
        timeout=settings.ready_timeout,
        host=host,
    )
    aimed = replace(
        settings, host=host, port=port, password=password, query=(), exact_target=True
    )
    return TestServer(
        "throwaway", maintenance(aimed), f"the throwaway container {name}", name
    )


def wait_for_port(container: Container, timeout: float) -> int:
    """The published port, once the process that created the container started it."""
    deadline = time.monotonic() + timeout
    while True:
        port = containers.published_port(container)
        if port is not None:
            return port
        if container.status in ("exited", "dead") or time.monotonic() > deadline:
            raise DevDbError(
                f"the test server {container.name} is {container.status} and "
                "publishes no port",
                "see its log (`docker logs " + str(container.name) + "`); the next "
                "run removes it",
            )
        time.sleep(0.1)


def remove_throwaway(run_uid: str) -> None:
    """Remove the run's throwaway server (at the end of the run)."""
    client = containers.docker_client()
    container = containers.find_container(client, throwaway_name(run_uid))
    if container is not None:
        containers.remove(container)


def reap_throwaways(client: docker.DockerClient | None = None) -> list[str]:
    """Remove the throwaway servers of runs on this machine that are over.

    A run's server carries its controlling process's id; when that process is
    gone (finished, crashed, killed), the server is left over.
    """
    client = client or containers.docker_client()
    here = socket.gethostname()
    removed = []
    for container in client.containers.list(
        all=True, filters={"label": [labels.TESTDB_RUN, f"{labels.ROLE}=test"]}
    ):
        if container.labels.get(labels.TESTDB_HOST) != here:
            continue
        if process_alive(container.labels.get(labels.TESTDB_PID, "")):
            continue
        containers.remove(container)
        removed.append(str(container.name))
    return removed


def process_alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def close_quietly(connection: Any) -> None:
    with contextlib.suppress(Exception):
        connection.close()
