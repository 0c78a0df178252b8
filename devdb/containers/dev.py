"""The dev container: the one place that finds it and aims settings at it.

Without DATABASE_URL, tasks act on the dev container and nothing else: its published
port wins (it may be a random one, from ``db.up --port 0``). When it is missing or
stopped they fail, rather than reach whatever else listens on the configured port (a
docker-compose database, say) and migrate or reset that.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import note, warn
from devdb.containers import engine as containers
from devdb.errors import DevDbError
from devdb.images.table import ImageSpec
from devdb.locality import database_locality
from devdb.settings import Settings

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container


def dev_container(client: docker.DockerClient, settings: Settings) -> Container | None:
    """The dev container by name, refusing one this project did not create."""
    container = containers.find_container(client, settings.container_name)
    if container is None:
        return None
    if container.labels.get(labels.PROJECT) != labels.PROJECT_NAME:
        raise DevDbError(
            f"a container named '{settings.container_name}' exists but was not "
            "created by this toolkit; it is left alone",
            "remove or rename it, or choose another name: DEVDB_CONTAINER_NAME=...",
        )
    return container


def existing_dev_container(settings: Settings, verb: str) -> Container:
    """The dev container in any state: `db.logs` matters most when it stopped."""
    managed_only(settings, verb)
    container = dev_container(containers.docker_client(), settings)
    if container is None:
        raise DevDbError(
            f"there is no dev container '{settings.container_name}'",
            "create it with `invoke db.up`",
        )
    return container


def running_dev_container(
    settings: Settings, client: docker.DockerClient | None = None, *, purpose: str = ""
) -> tuple[Container, Settings]:
    """The running dev container, and the settings aimed at its published port."""
    container = dev_container(client or containers.docker_client(), settings)
    if container is None or container.status != "running":
        state = "does not exist" if container is None else f"is {container.status}"
        raise DevDbError(
            f"the dev database container '{settings.container_name}' {state}"
            + (f"; {purpose}" if purpose else ""),
            "start it with `invoke db.up`"
            + ("" if purpose else ", or set DATABASE_URL to work on another database"),
        )
    port = containers.published_port(container)
    return container, settings.with_port(port) if port else settings


def resolve(settings: Settings) -> Settings:
    """Settings pointing at where the database really listens.

    DATABASE_URL (an exact target) is used as given; otherwise the dev container's.
    """
    if settings.exact_target:
        return settings
    return running_dev_container(settings)[1]


def dev_database(settings: Settings) -> tuple[Container, Settings]:
    """The running dev container and settings aimed at it, for work done inside it.

    pg_dump must run inside the server's container, so a DATABASE_URL is accepted
    only when it names the dev container itself (a local host on its published port).
    """
    if not settings.exact_target:
        return running_dev_container(settings, purpose="the schema is dumped inside it")
    if not database_locality(settings).local:
        raise no_dev_container_error(settings)
    client = containers.docker_client()
    try:
        container, aimed = running_dev_container(settings, client)
    except DevDbError:
        raise no_dev_container_error(settings) from None
    if aimed.port != settings.port:
        raise no_dev_container_error(settings)
    return container, settings


def no_dev_container_error(settings: Settings) -> DevDbError:
    return DevDbError(
        f"DATABASE_URL points at {settings.safe_url()}, not at the dev container "
        f"'{settings.container_name}'; the schema dump runs pg_dump inside that "
        "container (a host pg_dump may not match the server's version)",
        "unset DATABASE_URL and run `invoke db.up`, then `invoke db.dump-schema`",
    )


def managed_only(settings: Settings, verb: str) -> None:
    """Refuse container verbs when DATABASE_URL names some other database."""
    if settings.exact_target:
        raise DevDbError(
            f"DATABASE_URL is set, so `db.{verb}` would not act on the database it names "
            "(it manages the dev container only)",
            f"unset DATABASE_URL to {verb} the dev container",
        )


def warn_on_drift(container: Container, wanted: DevContainerConfig) -> None:
    created_with = DevContainerConfig.from_label(container.labels.get(labels.CONFIG))
    if created_with is None or created_with == wanted:
        return
    differences = [
        f"{name}: {getattr(created_with, name)!r} (configured: {getattr(wanted, name)!r})"
        for name in ("image_ref", "port", "user", "database")
        if getattr(created_with, name) != getattr(wanted, name)
        and not (name == "port" and wanted.port == 0)
    ]
    if differences:
        warn(
            f"{container.name} was created with other settings — "
            + "; ".join(differences)
            + ". It is used as it is; `invoke db.up --recreate` recreates it "
            "(the data volume is kept)."
        )


def wanted_config(
    settings: Settings,
    spec: ImageSpec,
    container: Container,
) -> DevContainerConfig:
    """The config ``up`` would create the container with now, for drift warnings."""
    current_ref = container.labels.get(labels.IMAGE_REF, "")
    accepted = spec.accepted_refs(settings.image_source)
    image_ref = current_ref if current_ref in accepted else accepted[0]
    return DevContainerConfig(
        image_ref=image_ref,
        port=settings.port,
        user=settings.user,
        database=settings.database,
    )


@dataclass(frozen=True)
class DevContainerConfig:
    """What the dev container is created from; stored on it to spot drift."""

    image_ref: str
    port: int  # 0: any free port
    user: str
    database: str

    def as_label(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_label(cls, text: str | None) -> DevContainerConfig | None:
        try:
            return cls(**json.loads(text or ""))
        except (ValueError, TypeError):
            return None


def volume_path_for(
    client: docker.DockerClient, image_ref: str, spec: ImageSpec
) -> str:
    """Where the image keeps its data: its declared VOLUME, else the table's guess."""
    declared = client.images.get(image_ref).attrs["Config"].get("Volumes") or {}
    return next(iter(declared)) if len(declared) == 1 else spec.volume_path


def create_dev_container(
    client: docker.DockerClient,
    settings: Settings,
    spec: ImageSpec,
    image_ref: str,
) -> Container:
    """Create and start the dev container on a labelled named volume."""
    import docker.errors

    # A remote engine's ports are not this machine's to probe; Docker reports a
    # busy one when the container starts.
    if (
        not settings.engine_host
        and settings.port
        and not containers.port_is_free(settings.port)
    ):
        raise containers.busy_port_error(settings.port)
    config = DevContainerConfig(
        image_ref=image_ref,
        port=settings.port,
        user=settings.user,
        database=settings.database,
    )
    image_labels = client.images.get(image_ref).labels or {}
    common = containers.container_labels(spec, image_ref, image_labels, labels.ROLE_DEV)
    try:
        client.volumes.get(settings.volume_name)
    except docker.errors.NotFound:
        client.volumes.create(settings.volume_name, labels=common)
    try:
        container = client.containers.create(
            image_ref,
            name=settings.container_name,
            detach=True,
            environment={
                "POSTGRES_USER": settings.user,
                "POSTGRES_PASSWORD": settings.password,
                "POSTGRES_DB": settings.database,
                # initdb's closing fsync of the whole new cluster is a fifth of a
                # cold start, and guards files that hold no data yet: a host crash in
                # the half minute before the kernel writes them back may break the
                # new cluster (its catalogs, which `db.reset` needs too), costing a
                # `db.destroy` and `db.up`, never a row. The server syncs as always.
                "POSTGRES_INITDB_ARGS": "--no-sync",
                # The image tunes postgresql.conf for the whole host's memory, as the
                # official one does: a quarter of a 24 GB laptop as shared buffers
                # for a dev database, and 0.2 s of every cold start. PostgreSQL's
                # own defaults serve a dev database well.
                "NO_TS_TUNE": "true",
            },
            labels={**common, labels.CONFIG: config.as_label()},
            ports=containers.port_binding(
                containers.publish_address(settings), settings.port or None
            ),
            volumes={
                settings.volume_name: {
                    "bind": volume_path_for(client, image_ref, spec),
                    "mode": "rw",
                }
            },
        )
    except docker.errors.APIError as error:
        if error.status_code != 409:
            raise
        # Another `db.up` created it a moment ago: use theirs, it is the same.
        return client.containers.get(settings.container_name)
    try:
        containers.start(container, existing=False)
    except DevDbError:
        containers.remove_keeping_volumes(
            container
        )  # a container that never ran holds nothing
        raise
    return container


def private_password(client: docker.DockerClient, settings: Settings) -> Settings:
    """Settings with a random password when a remote engine would otherwise
    publish a new dev database with the project's well-known one.

    A remote engine publishes on its machine's address (or its loopback, for an
    SSH tunnel): a known password there is anyone's database. The random one is
    kept in devdb.local.toml (mode 0600) for every later task. A volume that
    exists keeps the password its cluster was made with.
    """
    import docker.errors

    from devdb.local_settings import remember_password
    from devdb.settings import read_toml_values

    project = read_toml_values(settings.project_root / "devdb.toml")
    known = project.get("password", Settings.password)
    if not settings.engine_host or settings.password != known:
        return settings
    try:
        client.volumes.get(settings.volume_name)
        return settings
    except docker.errors.NotFound:
        pass
    password = secrets.token_urlsafe(24)
    path = remember_password(settings, password)
    note(
        f"The Docker engine is another machine's ({settings.engine_host}): the dev "
        f"database gets a random password, saved in {path} (mode 0600)"
    )
    return replace(settings, password=password)


def publication_notice(settings: Settings, address: str, port: int) -> str:
    """Where a remote engine published the dev database, and the narrower way."""
    engine = settings.engine_host
    if address == "127.0.0.1":
        return (
            f"The dev database is published on {engine}'s loopback, "
            f"127.0.0.1:{port}, which only that machine reaches: keep a tunnel "
            f"open while you work, `ssh -N -L {port}:127.0.0.1:{port} {engine}`"
        )
    return (
        f"The dev database is published on {address}:{port}, {engine}'s network "
        "address: whoever reaches it may try its password (random, in "
        "devdb.local.toml). To reach it through an SSH tunnel instead: "
        "`DEVDB_HOST=localhost invoke db.up --recreate` (it then publishes on "
        f"{engine}'s loopback only), then `ssh -N -L {port}:127.0.0.1:{port} "
        f"{engine}`"
    )
