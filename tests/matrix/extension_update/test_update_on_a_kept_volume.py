"""A volume made by the older image is moved to this row's TimescaleDB, data intact.

This row carries an older TimescaleDB's libraries beside its own (ImageSpec
source_versions); the row that builds that older version alone makes the volume,
as a developer's dev database was made before their image moved on.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from devdb import labels, status
from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.database import connect
from devdb.extension_update import update_extension
from devdb.images import table as images
from devdb.images.fetch import ensure_image
from devdb.schema import migrations, revisions
from devdb.schema.dump import dump_diff, dump_schema
from devdb.settings import Settings

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

SERVER_OPTIONS = [
    "postgres",
    "-c",
    "fsync=off",
    "-c",
    "timescaledb.max_background_workers=0",
]


@pytest.fixture
def volume(docker_client) -> Iterator[str]:
    name = f"devdb-test-extension-update-{secrets.token_hex(4)}"
    created = docker_client.volumes.create(
        name,
        labels={labels.PROJECT: labels.PROJECT_NAME, labels.ROLE: labels.ROLE_TEST},
    )
    try:
        yield name
    finally:
        created.remove(force=True)


def older_row(spec: images.ImageSpec) -> images.ImageSpec:
    return next(
        row
        for row in images.IMAGES
        if row.postgres_major == spec.postgres_major
        and row.source_versions == spec.source_versions[:-1]
    )


def start_on_volume(
    docker_client: docker.DockerClient,
    spec: images.ImageSpec,
    image_ref: str,
    volume: str,
    settings: Settings,
    password: str,
) -> tuple[Container, Settings]:
    """A server on ``volume``: (container, settings aimed at it)."""
    container = docker_client.containers.run(
        image_ref,
        command=SERVER_OPTIONS,
        detach=True,
        environment={
            "POSTGRES_USER": settings.user,
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": settings.database,
        },
        labels={labels.PROJECT: labels.PROJECT_NAME, labels.ROLE: labels.ROLE_TEST},
        ports={"5432/tcp": ("127.0.0.1", None)},
        volumes={volume: {"bind": spec.volume_path, "mode": "rw"}},
    )
    port = containers.published_port(container)
    assert port is not None
    target = replace(
        settings,
        host="127.0.0.1",
        port=port,
        password=password,
        exact_target=True,
    )
    readiness.wait_until_ready(
        container,
        port=port,
        user=target.user,
        password=password,
        database=target.database,
        timeout=target.ready_timeout,
    )
    return container, target


def extversion(settings: Settings) -> str | None:
    with connect(settings) as connection:
        return connection.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        ).scalar()


def test_older_volume_updates_to_this_rows_version(
    docker_client, test_settings, cell, cell_spec, volume, head_database
) -> None:
    older = older_row(cell_spec)
    older_ref = ensure_image(
        docker_client,
        older,
        test_settings.image_source,
        mirror=test_settings.debian_mirror,
    )
    password = secrets.token_urlsafe(16)

    container, settings = start_on_volume(
        docker_client, older, older_ref, volume, test_settings, password
    )
    try:
        migrations.upgrade(settings, "head")
        with connect(settings) as connection:
            connection.execute(
                text(
                    "INSERT INTO tick_data (symbol, timestamp, price, volume, side)"
                    " SELECT 'AAA', t, 1.0, 1, 'buy' FROM generate_series("
                    "now() - INTERVAL '3 days', now(), INTERVAL '1 minute') AS t"
                )
            )
            connection.commit()
            rows_before = connection.execute(
                text("SELECT count(*) FROM tick_data")
            ).scalar()
        assert extversion(settings) == older.source_versions[-1]
        container.stop(timeout=30)
    finally:
        containers.remove_keeping_volumes(container)

    container, settings = start_on_volume(
        docker_client, cell_spec, cell.image_ref, volume, test_settings, password
    )
    try:
        assert extversion(settings) == older.source_versions[-1], (
            "nothing updates alone"
        )
        behind = status.Status(url=settings.safe_url())
        status.fill_from_server(settings, behind)
        assert behind.extension_behind == cell_spec.source_versions[-1]
        assert any("db.update-extension" in problem for problem in behind.problems)
        results = {r.database: r for r in update_extension(container, settings.user)}
        updated = results[settings.database]
        assert (updated.before, updated.after) == (
            older.source_versions[-1],
            cell_spec.source_versions[-1],
        )
        assert "template1" in results
        assert extversion(settings) == cell_spec.source_versions[-1]
        with connect(settings) as connection:
            rows_after = connection.execute(
                text("SELECT count(*) FROM tick_data")
            ).scalar()
        assert rows_after == rows_before
        assert list(migrations.current(settings)) == revisions.heads(
            settings.script_location
        )
        current = status.Status(url=settings.safe_url())
        status.fill_from_server(settings, current)
        assert current.extension_behind == ""
        # The updated database's schema is a fresh install's at head.
        updated_schema = dump_schema(container, settings)
        fresh_schema = dump_schema(head_database.container, head_database.settings)
        assert updated_schema == fresh_schema, dump_diff(
            fresh_schema, updated_schema, "fresh install", "updated in place"
        )
    finally:
        containers.remove_keeping_volumes(container)
