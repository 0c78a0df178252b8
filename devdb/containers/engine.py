"""Docker SDK: the dev container and throwaway test containers, found by name + labels.

Get-or-create by name is the whole reuse story: ``ensure_dev_container`` twice gives
one container. A local engine publishes every port on 127.0.0.1 only (Docker would
otherwise bind 0.0.0.0 and bypass the host firewall, moby/moby#4737); a remote one
on the engine host's own address, the narrowest one reachable from here.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from devdb import labels
from devdb.errors import DevDbError, first_line
from devdb.images.table import ImageSpec
from devdb.locality import (
    DockerEndpoint,
    docker_endpoint,
    engine_locality,
    is_loopback,
    resolve_name,
)

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from devdb.settings import Settings

POSTGRES_PORT = "5432/tcp"
# SIGINT is a fast shutdown; give it time to checkpoint so the next start needs no
# crash recovery.
STOP_TIMEOUT_SECONDS = 30


def docker_client() -> docker.DockerClient:
    """A client that has answered a ping, or a DevDbError saying how to get one.

    It talks to the endpoint ``devdb.locality.docker_endpoint`` names (DOCKER_HOST,
    else the Docker context), the very one the guards judge: what is decided local
    is what is reached.
    """
    import docker
    import docker.errors
    from docker.utils import kwargs_from_env

    endpoint = docker_endpoint()
    try:
        params: dict[str, Any]
        if endpoint.context:
            params = {"base_url": endpoint.url, "tls": context_tls(endpoint)}
        else:
            # DOCKER_HOST with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, or the socket.
            params = dict(kwargs_from_env(environment=dict(os.environ)))
        with engine_ca_wins(bool(params.get("tls"))):
            client = docker.DockerClient(timeout=30, **params)
        if params.get("tls"):
            client.api.trust_env = False  # see engine_ca_wins
        client.ping()
    except ValueError as error:  # urllib's verdict on a malformed DOCKER_HOST
        raise DevDbError(
            f"{endpoint.chosen_by} is not a Docker engine address: "
            f"{first_line(str(error))}",
            "fix or unset DOCKER_HOST (e.g. unix:///var/run/docker.sock or "
            "tcp://HOST:2376), or pick another context (`docker context ls`)",
        ) from None
    except docker.errors.DockerException as error:
        raise DevDbError(
            f"the Docker daemon is not reachable at {endpoint.describe()}: "
            f"{first_line(short_docker_reason(error))}",
            "start Docker (`sudo systemctl start docker`, or `sudo dockerd &`), or "
            "point DOCKER_HOST (or the Docker context) at a running engine",
        ) from None
    return client


def context_tls(endpoint: DockerEndpoint) -> Any:
    """A context's TLS files as docker-py's TLSConfig (None: plain TCP or socket)."""
    from docker.tls import TLSConfig

    folder = Path(endpoint.tls_dir)
    ca, cert, key = (folder / name for name in ("ca.pem", "cert.pem", "key.pem"))
    if not (ca.is_file() or cert.is_file()):
        return None
    return TLSConfig(
        client_cert=(str(cert), str(key)) if cert.is_file() else None,
        ca_cert=str(ca) if ca.is_file() else None,
        verify=not endpoint.skip_tls_verify,
    )


@contextlib.contextmanager
def engine_ca_wins(tls: bool) -> Iterator[None]:
    """Keep REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from replacing the engine's own CA.

    requests lets those variables override the CA a session was given
    (psf/requests#3829), so a machine that sets them for its proxy could not
    verify a TLS engine at all. The client's session stops reading the
    environment once made; this covers the version request made while making it.
    """
    if not tls:
        yield
        return
    saved = {
        name: os.environ.pop(name)
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        if name in os.environ
    }
    try:
        yield
    finally:
        os.environ.update(saved)


def docker_engine_is_local(environ: dict[str, str] | None = None) -> bool:
    """Whether the engine the client talks to is on this machine (devdb.locality)."""
    return engine_locality(environ).local


def short_docker_reason(error: Exception) -> str:
    text = str(error)
    # docker-py wraps urllib3's errors several times over; the last clause says it.
    for marker in (
        "Connection refused",
        "No such file or directory",
        "Name or service not known",
        "Permission denied",
    ):
        if marker in text:
            return marker
    return text


def port_binding(address: str, port: int | None) -> dict[str, Any]:
    """PostgreSQL's port published on ``address`` only; None lets Docker pick one.

    Typed ``Any``: types-docker allows only ``(host, int)``, but docker-py and the
    Engine API take ``(host, None)`` for "any free port".
    """
    return {POSTGRES_PORT: (address, port)}


def find_container(client: docker.DockerClient, name: str) -> Container | None:
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def published_port(container: Container) -> int | None:
    """The host port of 5432/tcp, as Docker assigned it (reload first)."""
    container.reload()  # attrs are a snapshot from creation (docker/docker-py#2681)
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(
        POSTGRES_PORT
    )
    if not bindings:
        return None
    return int(bindings[0]["HostPort"])


def publish_address(settings: Settings) -> str:
    """The engine-side address ports are published on (see the module docstring).

    A remote engine whose database is reached through a loopback address here
    (DEVDB_HOST=localhost: an SSH tunnel) publishes on its own loopback, which
    only the tunnel reaches; otherwise on the address that names its machine.
    """
    if not settings.engine_host:
        return "127.0.0.1"
    host = settings.engine_address
    addresses = resolve_name(host)
    if addresses and all(is_loopback(address) for address in addresses):
        return "127.0.0.1"
    try:
        # An IP literal passes through; a name becomes the address it has here.
        return socket.gethostbyname(host)
    except OSError:
        raise DevDbError(
            f"the Docker engine's host '{host}' does not resolve here",
            "set DEVDB_HOST to an address of the engine's machine that this one "
            "reaches",
        ) from None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def busy_port_error(port: int, *, existing: bool = False) -> DevDbError:
    # An existing container keeps the port it was created with: only recreating it
    # moves it (its volume, and so the data, stays).
    move = (
        "`invoke db.up --recreate --port 5433`"
        if existing
        else "`invoke db.up --port 5433`"
    )
    return DevDbError(
        f"port {port} on 127.0.0.1 is already in use by another program",
        f"stop what listens there (`ss -ltnp 'sport = :{port}'` shows it), or move "
        f"the database: {move} (--port 0 picks any free one)",
    )


def bound_port(container: Container) -> int:
    """The host port the container was created to publish (0: Docker picks one)."""
    bindings = (container.attrs["HostConfig"].get("PortBindings") or {}).get(
        POSTGRES_PORT
    ) or [{}]
    return int(bindings[0].get("HostPort") or 0)


def container_labels(
    spec: ImageSpec, image_ref: str, image_labels: dict[str, str], role: str
) -> dict[str, str]:
    return {
        labels.PROJECT: labels.PROJECT_NAME,
        labels.ROLE: role,
        labels.IMAGE_ID: spec.id,
        labels.IMAGE_REF: image_ref,
        labels.POSTGRES_VERSION: image_labels.get(
            labels.POSTGRES_VERSION, str(spec.postgres_major)
        ),
        labels.TIMESCALEDB_VERSION: image_labels.get(
            labels.TIMESCALEDB_VERSION, spec.timescaledb or "none"
        ),
    }


def start(container: Container, *, existing: bool = True) -> None:
    """Start a container; a busy port is a clear error naming the port it needs."""
    import docker.errors

    try:
        container.start()
    except docker.errors.APIError as error:
        text = str(error)
        if "port is already allocated" in text or "address already in use" in text:
            raise busy_port_error(bound_port(container), existing=existing) from None
        raise DevDbError(
            f"Docker could not start {container.name}: {first_line(text)}",
            "see `invoke db.logs`, fix what it says, then `invoke db.up` (the data is "
            "kept); `invoke db.destroy` deletes the data and starts afresh",
        ) from None


def stop(container: Container) -> None:
    container.stop(timeout=STOP_TIMEOUT_SECONDS)


def last_log_lines(container: Container, count: int = 25) -> str:
    import docker.errors

    try:
        return container.logs(tail=count).decode("utf-8", "replace").rstrip()
    except docker.errors.APIError:
        return "(no logs: the container is gone)"


def start_throwaway(
    client: docker.DockerClient,
    spec: ImageSpec,
    image_ref: str,
    *,
    password: str,
    user: str = "stock",
    database: str = "stock_tracker",
    init_sql_dir: str | None = None,
    address: str = "127.0.0.1",
    background_workers: bool = False,
    name: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> Container:
    """A disposable database for tests: random port, tmpfs data, no fsync.

    ``address``: where the port is published (``publish_address``). ``name``: a
    name other processes find it by (Docker refuses a second container with it:
    409); ``extra_labels`` say more about who it belongs to.

    TimescaleDB's background workers are off unless ``background_workers`` (a test
    of scheduled jobs needs them; they block CREATE DATABASE ... TEMPLATE).
    The caller removes it (``remove``), in a ``finally`` or a fixture teardown.
    """
    image_labels = client.images.get(image_ref).labels or {}
    volumes = {}
    if init_sql_dir:
        volumes[init_sql_dir] = {"bind": "/docker-entrypoint-initdb.d", "mode": "ro"}
    container = client.containers.create(
        image_ref,
        # Durability is pointless for a database that lives for one test; the
        # background workers would hold sessions that block DROP/CREATE DATABASE.
        command=[
            "postgres",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            *(
                ()
                if background_workers
                else ("-c", "timescaledb.max_background_workers=0")
            ),
        ]
        if spec.timescaledb
        else ["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off"],
        detach=True,
        environment={
            "POSTGRES_USER": user,
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": database,
            # Untuned (see the dev container's): three test processes would each
            # reserve a quarter of the host's memory as shared buffers.
            "NO_TS_TUNE": "true",
        },
        labels={
            **container_labels(spec, image_ref, image_labels, labels.ROLE_TEST),
            **(extra_labels or {}),
        },
        name=name,
        ports=port_binding(address, None),
        tmpfs={spec.pgdata: "rw"},
        volumes=volumes,
    )
    try:
        container.start()
    except BaseException:
        remove(container)
        raise
    return container


def remove(container: Container) -> None:
    """Remove a container and its anonymous volumes (a throwaway's data)."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True, v=True)


def remove_keeping_volumes(container: Container) -> None:
    """Remove a container; its named data volume stays for the next one."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)


def exec_in(
    container: Container, command: list[str], environment: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run a command inside the container: (exit code, stdout, stderr).

    Secrets go in ``environment`` (e.g. PGPASSWORD), never in ``command``.
    """
    result = container.exec_run(
        command, environment=environment or {}, demux=True, user="postgres"
    )
    # With demux=True the output is a (stdout, stderr) pair, each None when the
    # stream was empty; types-docker types it as a single stream.
    stdout, stderr = cast("tuple[bytes | None, bytes | None]", result.output)
    return (
        int(result.exit_code or 0),
        (stdout or b"").decode("utf-8", "replace"),
        (stderr or b"").decode("utf-8", "replace"),
    )
