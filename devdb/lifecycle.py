"""The dev container's life: up, down, destroy, reset.

Each function takes the Settings and does one user-visible thing; the invoke tasks
are thin wrappers around these.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import note, warn
from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.containers.dev import (
    create_dev_container,
    dev_container,
    managed_only,
    private_password,
    publication_notice,
    wanted_config,
    warn_on_drift,
)
from devdb.database import connect, quote_identifier
from devdb.errors import DevDbError
from devdb.images import table as images
from devdb.images.fetch import ensure_image
from devdb.locality import Verdict, docker_endpoint, engine_locality
from devdb.safety import confirm_destructive, refuse_non_local
from devdb.schema import migrations
from devdb.schema.journal import record_head_files
from devdb.schema.revisions import at_head_quickly
from devdb.team.switch import foreign_error, foreign_revisions_in

if TYPE_CHECKING:
    from devdb.settings import Settings


@dataclass(frozen=True)
class UpResult:
    container_id: str
    created: bool
    started: bool
    port: int
    waited_seconds: float
    # Revisions this run applied, oldest first; empty when already at head.
    applied: tuple[str, ...] = ()
    # Why nothing was applied although the database is not at this branch's head:
    # it holds another branch's revisions (moving it may drop rows: db.upgrade asks).
    held_back: str = ""


LOCK_POLL_SECONDS = 0.2


def machine_lock_path(name: str) -> Path:
    """Where the lock for ``name`` lives: never a path built from the raw name.

    Only the name's safe characters appear in the file name (for people looking in
    /tmp); a digest of the whole name keeps two names that clean up alike apart.
    """
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"{readable}-{digest}.lock"


@contextmanager
def machine_lock(name: str, *, wait_seconds: float = 60.0) -> Iterator[None]:
    """An exclusive lock for this machine's processes, held for the block.

    The holder writes who it is into the lock file; a second process says whom it
    waits for, and gives up after ``wait_seconds`` naming the holder, like the
    migration lock, rather than wait silently without end.
    """
    path = machine_lock_path(name)
    with path.open("a+") as handle:
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    raise DevDbError(
                        f"{holder} still holds the lock {path} after "
                        f"{wait_seconds:g} s",
                        "let it finish (or stop it), then run again; "
                        "DEVDB_MIGRATION_LOCK_WAIT sets how long to wait",
                    ) from None
                if not announced:
                    note(f"Waiting up to {wait_seconds:g} s for {holder} ...")
                    announced = True
                time.sleep(LOCK_POLL_SECONDS)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(
                f"pid {os.getpid()} ({' '.join(sys.argv[:3])[:80]}, since "
                f"{time.strftime('%H:%M:%S')})"
            )
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(
    settings: Settings,
    *,
    migrate: bool = True,
    recreate: bool = False,
) -> UpResult:
    """Create, start or reuse the dev container; wait for a real query; upgrade."""
    if settings.exact_target:
        raise DevDbError(
            "DATABASE_URL is set, so `db.up` would not manage the database it names",
            "unset DATABASE_URL to use the dev container, or run `invoke db.upgrade` "
            "against that database",
        )
    client = containers.docker_client()
    spec = images.image_spec(settings.image)
    # Two `db.up` at once (two terminals, a script and a person) would race to
    # create the same container; on one machine they take turns instead.
    with machine_lock(
        f"devdb-up-{settings.container_name}",
        wait_seconds=settings.migration_lock_wait,
    ):
        container = dev_container(client, settings)
        if container is not None and recreate:
            note(
                f"Recreating {container.name} (the volume {settings.volume_name} is kept)"
            )
            containers.stop(container)
            containers.remove_keeping_volumes(container)
            container = None

        created = started = False
        if container is None:
            image_ref = ensure_image(
                client, spec, settings.image_source, mirror=settings.debian_mirror
            )
            note(f"Creating {settings.container_name} from {image_ref}")
            settings = private_password(client, settings)
            container = create_dev_container(client, settings, spec, image_ref)
            created = started = True
        else:
            warn_on_drift(container, wanted_config(settings, spec, container))
            if container.status == "paused":
                container.unpause()
            elif container.status != "running":
                note(f"Starting {container.name}")
                containers.start(container)
                started = True

    port = containers.published_port(container)
    if port is None:
        raise DevDbError(
            f"{container.name} publishes no port for PostgreSQL",
            "recreate it: `invoke db.up --recreate`",
        )
    if created and settings.engine_host:
        note(publication_notice(settings, containers.publish_address(settings), port))
    waited = readiness.wait_until_ready(
        container,
        port=port,
        user=settings.user,
        password=settings.password,
        database=settings.database,
        timeout=settings.ready_timeout,
        host=settings.engine_address,
    )
    applied: tuple[str, ...] = ()
    held_back = ""
    target = settings.with_port(port)
    if migrate and not at_head_quickly(target):
        foreign = foreign_revisions_in(target)
        if foreign:
            error = foreign_error(foreign)
            warn(f"{error.message}\nTIP: {error.tip}")
            held_back = "it holds another branch's revisions (see above)"
        else:
            applied = tuple(migrations.upgrade(target, "head"))
    return UpResult(
        str(container.id), created, started, port, waited, applied, held_back
    )


def down(settings: Settings) -> str:
    """Stop the dev container, keeping it and its data; say what happened."""
    managed_only(settings, "down")
    client = containers.docker_client()
    container = dev_container(client, settings)
    if container is None:
        return f"{settings.container_name} does not exist; nothing to stop"
    if container.status not in ("running", "paused", "restarting"):
        return f"{container.name} is already stopped ({container.status}); data kept"
    containers.stop(container)
    return f"Stopped {container.name}; its data stays in {settings.volume_name}"


def destroy(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> list[str]:
    """Remove the dev container and its data volume, once confirmed."""
    import docker.errors

    managed_only(settings, "destroy")
    action = f"delete {settings.container_name} and every row in {settings.volume_name}"
    # Before talking to the engine: another machine's is refused without --force.
    endpoint = docker_endpoint()
    engine = f"the Docker engine at {endpoint.describe()}"
    verdict = engine_locality() if not force else Verdict(endpoint.host is None, ())
    refuse_non_local(
        settings,
        action,
        force=force,
        where=engine,
        verdict=verdict,
        kind="Docker engine",
    )
    client = containers.docker_client()
    container = dev_container(client, settings)
    try:
        volume = client.volumes.get(settings.volume_name)
    except docker.errors.NotFound:
        volume = None
    if container is None and volume is None:
        return [
            f"{settings.container_name} and {settings.volume_name} do not exist; "
            "nothing to destroy"
        ]
    # Docker reports "Labels": null for a volume made without labels.
    volume_labels = (volume.attrs.get("Labels") or {}) if volume is not None else {}
    if volume is not None and volume_labels.get(labels.PROJECT) != labels.PROJECT_NAME:
        raise DevDbError(
            f"the volume '{settings.volume_name}' was not created by this toolkit; "
            "it is left alone",
            "remove it yourself (`docker volume rm ...`) if you are sure",
        )
    confirm_destructive(
        settings,
        action,
        yes=yes,
        force=force,
        where=engine,
        verdict=verdict,
        kind="Docker engine",
        ask=ask,
    )
    done: list[str] = []
    if container is not None:
        # No graceful stop: the data is about to be deleted anyway.
        containers.remove_keeping_volumes(container)
        done.append(f"Removed container {container.name}")
    if volume is not None:
        volume.remove(force=True)
        done.append(f"Removed volume {settings.volume_name}")
    return done


def rows_in(settings: Settings) -> str:
    """'tick_data (3 rows), ...' for the question; a database we cannot read has
    nothing to list, and the question is asked all the same."""
    from devdb.rows_at_risk import DataAtRisk, tables_with_rows

    try:
        with connect(settings) as connection:
            counts = tables_with_rows(connection)
    except DevDbError:
        return "its tables could not be counted"
    return DataAtRisk((), tuple(sorted(counts.items())), True).describe()


def reset(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    migrate: bool = True,
    ask: Callable[[str], bool] | None = None,
) -> tuple[str, ...]:
    """Drop and re-create the database, then upgrade to head; returns what ran.

    Where the server holds the head template the test databases are cloned from
    (devdb.testdb), the database is a clone of it instead: nothing to run.

    The drop runs from the maintenance database ``postgres``: one cannot drop the
    database one is connected to. ``WITH (FORCE)`` ends the sessions still in it,
    TimescaleDB's background workers included (timescale/timescaledb#4048).
    """
    action = f"drop and re-create the database '{settings.database}'"
    # Non-local is refused before any connection; then the question says what goes.
    refuse_non_local(settings, action, force=force)
    if not yes:
        action += f" (every row is lost: {rows_in(settings)})"
    confirm_destructive(settings, action, yes=yes, force=force, ask=ask)
    from sqlalchemy.exc import DBAPIError  # lazy: see devdb.database.connect

    name = quote_identifier(settings.database)
    template = None
    with connect(settings, "postgres") as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if migrate:
                template = from_head_template(settings)
            if template is None:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
        except DBAPIError as error:
            reason = str(getattr(error, "orig", error)).strip().splitlines()
            raise DevDbError(
                f"could not re-create the database '{settings.database}': "
                f"{reason[0] if reason else type(error).__name__}",
                "the user needs the CREATEDB privilege (the dev container's user has "
                "it); `invoke db.destroy --yes` then `invoke db.up` also starts "
                "afresh (that deletes the dev data)",
            ) from None
    if template is not None:
        record_head_files(settings)  # the journal a migration run would have kept
        note(
            f"Re-created '{settings.database}' at {settings.safe_url()} from the "
            f"head template {template} (no migration to run)"
        )
        return ()
    note(
        f"Re-created the empty database '{settings.database}' at {settings.safe_url()}"
    )
    if not migrate:
        return ()
    applied = tuple(migrations.pending(settings, ()))
    migrations.upgrade(settings, "head")
    return applied


def from_head_template(settings: Settings) -> str | None:
    """The dev database cloned from the test databases' head template, when the
    server has one (devdb.testdb): milliseconds instead of a migration run.

    A clone that fails is no reason to fail the reset: it migrates instead.
    """
    from devdb.testdb.clones import create_from_head_template

    try:
        return create_from_head_template(settings, settings.database)
    except DevDbError as error:
        warn(f"the head template could not be used ({error.message}); migrating")
        return None
