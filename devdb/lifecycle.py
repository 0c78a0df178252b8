"""The dev database's lifecycle: up, and finding where it listens.

Each function takes the Settings and does one user-visible thing; the invoke tasks
are thin wrappers around these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devdb import containers, images, labels, migrations, readiness
from devdb.console import note, warn
from devdb.errors import DevDbError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from devdb.settings import Settings


@dataclass(frozen=True)
class UpResult:
    container_id: str
    created: bool
    started: bool
    port: int
    waited_seconds: float


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


def resolve(settings: Settings) -> Settings:
    """Settings pointing at where the dev database really listens.

    DATABASE_URL is used exactly as given. Otherwise the dev container's published
    port wins (it may be a random one, from ``db.up --port 0``); when Docker or the
    container is not there, the configured port stands and a connection error will
    say to run ``invoke db.up``.
    """
    if settings.url_from_environment:
        return settings
    try:
        client = containers.docker_client()
        container = dev_container(client, settings)
    except DevDbError:
        return settings
    if container is None or container.status != "running":
        return settings
    port = containers.published_port(container)
    return settings.with_port(port) if port else settings


def warn_on_drift(container: Container, wanted: containers.DevContainerConfig) -> None:
    created_with = containers.DevContainerConfig.from_label(
        container.labels.get(labels.CONFIG)
    )
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


def up(
    settings: Settings,
    *,
    migrate: bool = True,
    recreate: bool = False,
) -> UpResult:
    """Create, start or reuse the dev container; wait for a real query; upgrade."""
    if settings.url_from_environment:
        raise DevDbError(
            "DATABASE_URL is set, so `db.up` would not manage the database it names",
            "unset DATABASE_URL to use the dev container, or run `invoke db.upgrade` "
            "against that database",
        )
    client = containers.docker_client()
    spec = images.image_spec(settings.image)
    container = dev_container(client, settings)
    if container is not None and recreate:
        note(f"Recreating {container.name} (the volume {settings.volume_name} is kept)")
        containers.stop(container)
        containers.remove_keeping_volumes(container)
        container = None

    created = started = False
    if container is None:
        image_ref = images.ensure_image(
            client, spec, settings.image_source, mirror=settings.debian_mirror
        )
        note(f"Creating {settings.container_name} from {image_ref}")
        container = containers.create_dev_container(client, settings, spec, image_ref)
        created = started = True
    else:
        warn_on_drift(container, wanted_config(settings, spec, container))
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            note(f"Starting {container.name}")
            containers.start(container, settings.port)
            started = True

    port = containers.published_port(container)
    if port is None:
        raise DevDbError(
            f"{container.name} publishes no port for PostgreSQL",
            "recreate it: `invoke db.up --recreate`",
        )
    waited = readiness.wait_until_ready(
        container,
        port=port,
        user=settings.user,
        password=settings.password,
        database=settings.database,
        timeout=settings.ready_timeout,
    )
    if migrate:
        migrations.upgrade(settings.with_port(port), "head")
    return UpResult(container.id, created, started, port, waited)


def wanted_config(
    settings: Settings,
    spec: images.ImageSpec,
    container: Container,
) -> containers.DevContainerConfig:
    """The config ``up`` would create the container with now, for drift warnings."""
    current_ref = container.labels.get(labels.IMAGE_REF, "")
    if settings.image_source == "auto" and current_ref in (spec.official, spec.offline):
        image_ref = current_ref  # auto accepts either build of the configured row
    else:
        image_ref = spec.ref(settings.image_source)
    return containers.DevContainerConfig(
        image_ref=image_ref,
        port=settings.port,
        user=settings.user,
        database=settings.database,
    )
