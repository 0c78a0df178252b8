"""Throwaway databases: one real container per test, matrix cell or benchmark.

Random port (on 127.0.0.1 with a local engine), tmpfs data, no fsync, labelled role=test, and removed on the
way out even when the body fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.images.fetch import ensure_image
from devdb.images.table import ImageSpec
from devdb.settings import Settings, load_settings

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container


@dataclass(frozen=True)
class ThrowawayDatabase:
    container: Container
    spec: ImageSpec
    image_ref: str
    settings: Settings  # aimed at this database, not the dev one
    ready_after_seconds: float


@contextmanager
def throwaway_database(
    spec: ImageSpec,
    *,
    client: docker.DockerClient | None = None,
    settings: Settings | None = None,
    init_sql_dir: str | None = None,
    background_workers: bool = False,
) -> Iterator[ThrowawayDatabase]:
    """Start a disposable database from ``spec``'s image; remove it afterwards.

    ``init_sql_dir`` is mounted at /docker-entrypoint-initdb.d (the docker-compose
    path). The image comes from ``settings.image_source`` (built or pulled if absent).
    """
    base = settings or load_settings()
    client = client or containers.docker_client()
    image_ref = ensure_image(client, spec, base.image_source, mirror=base.debian_mirror)
    password = secrets.token_urlsafe(16)
    container = containers.start_throwaway(
        client,
        spec,
        image_ref,
        password=password,
        user=base.user,
        database=base.database,
        init_sql_dir=init_sql_dir,
        address=containers.publish_address(base),
        background_workers=background_workers,
    )
    try:
        port = containers.published_port(container)
        assert port is not None, "a throwaway container always publishes 5432"
        target = replace(
            base,
            host=base.engine_address,
            port=port,
            password=password,
            exact_target=True,
        )
        waited = readiness.wait_until_ready(
            container,
            port=port,
            user=target.user,
            password=password,
            database=target.database,
            timeout=target.ready_timeout,
            host=target.host,
        )
        yield ThrowawayDatabase(container, spec, image_ref, target, waited)
    finally:
        containers.remove(container)
