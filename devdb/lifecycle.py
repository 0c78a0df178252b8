"""The dev database's lifecycle: up, down, destroy, reset, status, redo, and more.

Each function takes the Settings and does one user-visible thing; the invoke tasks
are thin wrappers around these.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import containers, images, labels, migrations, readiness
from devdb.console import note, warn
from devdb.errors import DevDbError
from devdb.image_fetch import ensure_image
from devdb.safety import confirm_destructive

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
    # Revisions this run applied, oldest first; empty when already at head.
    applied: tuple[str, ...] = ()


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

    DATABASE_URL is used exactly as given. Otherwise the tasks act on the dev
    container and nothing else: its published port wins (it may be a random one,
    from ``db.up --port 0``). When it is missing or stopped this fails, rather
    than reach whatever else listens on the configured port (a docker-compose
    database, say) and migrate or reset that.
    """
    if settings.url_from_environment:
        return settings
    client = containers.docker_client()
    container = dev_container(client, settings)
    if container is None or container.status != "running":
        state = "does not exist" if container is None else f"is {container.status}"
        raise DevDbError(
            f"the dev database container '{settings.container_name}' {state}",
            "start it with `invoke db.up`, or set DATABASE_URL to work on another "
            "database",
        )
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


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock for this machine's processes, held for the block."""
    import fcntl
    import tempfile

    path = Path(tempfile.gettempdir()) / f"{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    # Two `db.up` at once (two terminals, a script and a person) would race to
    # create the same container; on one machine they take turns instead.
    with machine_lock(f"devdb-up-{settings.container_name}"):
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
            container = containers.create_dev_container(
                client, settings, spec, image_ref
            )
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
    target = settings.with_port(port)
    if migrate and not at_head_quickly(target):
        applied = tuple(migrations.upgrade(target, "head"))
    return UpResult(container.id, created, started, port, waited, applied)


def script_heads_quickly(versions_dir: Path) -> set[str] | None:
    """The head revisions, read from the files' literals without importing Alembic.

    Importing Alembic and SQLAlchemy costs about half a second, most of a warm
    ``db.up``. Revision files assign ``revision`` and ``down_revision`` literals
    (script.py.mako), so ``ast`` reads them; anything unusual returns None and the
    caller asks Alembic instead.
    """
    import ast

    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions_dir.glob("*.py"):
        found: dict[str, object] = {}
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                target, value = None, None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                if isinstance(target, ast.Name) and target.id in (
                    "revision",
                    "down_revision",
                ):
                    found[target.id] = ast.literal_eval(value)
        except (SyntaxError, ValueError, OSError):
            return None
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
        elif down is not None:
            return None
    return revisions - parents or None


def at_head_quickly(settings: Settings) -> bool:
    """True when the database is certainly at head; False means "ask Alembic"."""
    import psycopg2

    heads = script_heads_quickly(settings.script_location / "versions")
    if heads is None:
        return False
    try:
        connection = psycopg2.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password,
            dbname=settings.database,
            connect_timeout=5,
            application_name="devdb",
        )
    except psycopg2.Error:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            current = {row[0] for row in cursor.fetchall()}
    except psycopg2.Error:
        return False  # no alembic_version yet: a fresh database
    finally:
        connection.close()
    return current == heads


def wanted_config(
    settings: Settings,
    spec: images.ImageSpec,
    container: Container,
) -> containers.DevContainerConfig:
    """The config ``up`` would create the container with now, for drift warnings."""
    current_ref = container.labels.get(labels.IMAGE_REF, "")
    accepted = spec.accepted_refs(settings.image_source)
    image_ref = current_ref if current_ref in accepted else accepted[0]
    return containers.DevContainerConfig(
        image_ref=image_ref,
        port=settings.port,
        user=settings.user,
        database=settings.database,
    )


# --- down, destroy ---------------------------------------------------------------


def managed_only(settings: Settings, verb: str) -> None:
    """Refuse container verbs when DATABASE_URL names some other database."""
    if settings.url_from_environment:
        raise DevDbError(
            f"DATABASE_URL is set, so `db.{verb}` would not act on the database it names "
            "(it manages the dev container only)",
            f"unset DATABASE_URL to {verb} the dev container",
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


def docker_engine_is_local(environ: dict[str, str] | None = None) -> bool:
    """Whether DOCKER_HOST names this machine (a socket, or a loopback address)."""
    host = (os.environ if environ is None else environ).get("DOCKER_HOST", "")
    if not host or host.startswith(("unix://", "npipe://", "fd://")):
        return True
    match = re.match(r"^(?:tcp|http|https|ssh)://(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*)", host)
    name = (match.group(1) if match else host).strip("[]")
    return name in ("localhost", "::1", "") or name.startswith("127.")


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
    engine = os.environ.get("DOCKER_HOST") or "this machine's Docker"
    confirm_destructive(
        settings,
        f"delete {settings.container_name} and every row in {settings.volume_name}",
        yes=yes,
        force=force,
        where=engine,
        local=docker_engine_is_local(),
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


# --- reset -----------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """A PostgreSQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def reset(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    migrate: bool = True,
    ask: Callable[[str], bool] | None = None,
) -> tuple[str, ...]:
    """Drop and re-create the database, then upgrade to head; returns what ran.

    The drop runs from the maintenance database ``postgres``: one cannot drop the
    database one is connected to. ``WITH (FORCE)`` ends the sessions still in it,
    TimescaleDB's background workers included (timescale/timescaledb#4048).
    """
    confirm_destructive(
        settings,
        f"drop and re-create the database '{settings.database}' (every row is lost)",
        yes=yes,
        force=force,
        ask=ask,
    )
    from sqlalchemy.exc import DBAPIError

    name = quote_identifier(settings.database)
    with migrations.connect(settings, "postgres") as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        except DBAPIError as error:
            reason = str(getattr(error, "orig", error)).strip().splitlines()
            raise DevDbError(
                f"could not re-create the database '{settings.database}': "
                f"{reason[0] if reason else type(error).__name__}",
                "the user needs the CREATEDB privilege (the dev container's user has "
                "it); `invoke db.destroy --yes` then `invoke db.up` also starts afresh",
            ) from None
    note(
        f"Re-created the empty database '{settings.database}' at {settings.safe_url()}"
    )
    if not migrate:
        return ()
    applied = tuple(migrations.pending(settings, ()))
    migrations.upgrade(settings, "head")
    return applied


# --- status ----------------------------------------------------------------------


@dataclass
class Status:
    """What `db.status` shows; ``problems`` are what `--check` fails on."""

    url: str
    container: str = "-"
    container_state: str = "-"
    image: str = "-"
    port: str = "-"
    reachable: bool = False
    unreachable_reason: str = ""
    postgres_version: str = "-"
    timescaledb_version: str = "-"
    current: tuple[str, ...] = ()
    unknown_revisions: tuple[str, ...] = ()
    pending: list[str] = field(default_factory=list)
    hypertables: list[str] = field(default_factory=list)
    head: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        found: list[str] = []
        if not self.reachable:
            found.append(f"the database does not answer: {self.unreachable_reason}")
            return found
        if self.unknown_revisions:
            found.append(
                "the database is at revision "
                + ", ".join(self.unknown_revisions)
                + ", which no migration file here knows"
            )
        if self.pending:
            found.append(
                f"{len(self.pending)} revision(s) pending: {', '.join(self.pending)}"
            )
        return found


def status(settings: Settings) -> Status:
    """Container, server versions, revisions and hypertables, in one look."""
    if settings.url_from_environment:
        report = Status(url=settings.safe_url(), container="not managed (DATABASE_URL)")
        target = settings
    else:
        target = settings
        report = Status(url=settings.safe_url(), container=settings.container_name)
        try:
            client = containers.docker_client()
            container = dev_container(client, settings)
        except DevDbError as error:
            report.container_state = f"unknown ({error.message})"
            container = None
        else:
            if container is None:
                report.container_state = "absent"
        if container is not None:
            report.container_state = container.status
            report.image = container.labels.get(
                labels.IMAGE_REF, container.attrs["Config"].get("Image", "?")
            )
            running = container.status == "running"
            port = containers.published_port(container) if running else None
            if port:
                target = settings.with_port(port)
                report.port = f"{settings.engine_address}:{port}"
            report.url = target.safe_url()
    report.head = tuple(migrations.heads(settings))
    if not settings.url_from_environment and report.container_state != "running":
        report.unreachable_reason = f"the dev container is {report.container_state}"
        return report
    try:
        fill_from_server(target, report)
    except DevDbError as error:
        report.reachable = False
        report.unreachable_reason = error.message
    return report


def fill_from_server(settings: Settings, report: Status) -> None:
    from sqlalchemy import text

    with migrations.connect(settings) as connection:
        report.reachable = True
        report.postgres_version = (
            connection.execute(text("SHOW server_version")).scalar_one().split()[0]
        )
        timescaledb = connection.execute(
            text(
                "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
                "       (SELECT default_version FROM pg_available_extensions"
                "         WHERE name = 'timescaledb')"
            )
        ).one()
        installed, available = timescaledb
        if installed:
            report.timescaledb_version = installed
            report.hypertables = list(
                connection.execute(
                    text(
                        "SELECT format('%I.%I', hypertable_schema, hypertable_name)"
                        "  FROM timescaledb_information.hypertables ORDER BY 1"
                    )
                ).scalars()
            )
        elif available:
            report.timescaledb_version = f"available ({available}), not installed"
        else:
            report.timescaledb_version = "not available on this server"
        connection.commit()
        report.current = migrations.database_revisions(connection)
    known = {info.revision for info in migrations.history(settings)}
    report.unknown_revisions = tuple(r for r in report.current if r not in known)
    if not report.unknown_revisions:
        report.pending = migrations.pending(settings, report.current)


# --- redo, revision --------------------------------------------------------------


def redo(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> str:
    """Down one revision and up again: re-run the latest migration after editing it."""
    revisions = migrations.current(settings)
    if not revisions:
        raise DevDbError(
            "the database is at base; there is no revision to redo",
            "run `invoke db.upgrade` first",
        )
    if len(revisions) > 1:
        raise DevDbError(
            f"the database has several heads ({', '.join(revisions)}); redo needs one",
            "downgrade and upgrade by revision: `invoke db.downgrade --revision R`",
        )
    if migrations.lands_on_base(settings, "-1"):
        # Undoing the first revision drops every table: the same guard as base.
        confirm_destructive(
            settings,
            f"redo {revisions[0]}, which drops every table first",
            yes=yes,
            force=force,
            ask=ask,
        )
    migrations.downgrade(settings, "-1")
    migrations.upgrade(settings, revisions[0])
    return revisions[0]


def next_revision_id(existing: list[str]) -> str | None:
    """'002' after '001': sequential ids while every id is a number, else None."""
    if not existing:
        return "001"
    if not all(revision.isdigit() for revision in existing):
        return None  # Alembic's random ids then, rather than guess a scheme
    width = max(len(revision) for revision in existing)
    return str(max(int(revision) for revision in existing) + 1).zfill(width)


def new_revision(settings: Settings, message: str) -> Path:
    """Write a new raw-SQL revision after head from script.py.mako; return its path."""
    from alembic import command
    from alembic.util import CommandError

    if not message.strip():
        raise DevDbError(
            "a revision needs a message",
            'say what it changes: `invoke db.revision -m "add trades table"`',
        )
    config = migrations.alembic_config(settings)
    existing = [info.revision for info in migrations.history(settings)]
    try:
        script = command.revision(
            config, message=message.strip(), rev_id=next_revision_id(existing)
        )
    except CommandError as error:
        raise migrations.command_error(error) from None
    if script is None or isinstance(script, list):
        raise DevDbError("Alembic wrote no revision file", "run `invoke db.history`")
    return Path(script.path)


# --- logs, psql ------------------------------------------------------------------


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


def logs(settings: Settings, *, follow: bool, tail: int) -> None:
    """Print the dev container's log (and keep printing with ``follow``)."""
    container = existing_dev_container(settings, "logs")
    out = sys.stdout.buffer
    for chunk in container.logs(
        stream=True, follow=follow, tail=tail if tail > 0 else "all"
    ):
        out.write(chunk)
        out.flush()


def psql_invocation(
    settings: Settings,
    container_name: str,
    *,
    command: str = "",
    tty: bool,
    docker_cli: str = "docker",
) -> tuple[list[str], dict[str, str]]:
    """``docker exec`` argv for psql in the container, and the environment for it.

    The password travels in the environment only: ``-e PGPASSWORD`` without a value
    makes the docker CLI copy it from ours, so no process listing ever shows it.
    """
    argv = [docker_cli, "exec", "-i"]
    if tty:
        argv.append("-t")
    argv += [
        "-e",
        "PGPASSWORD",
        "-u",
        "postgres",
        container_name,
        "psql",
        "-U",
        settings.user,
        "-d",
        settings.database,
    ]
    if command:
        argv += ["-v", "ON_ERROR_STOP=1", "-c", command]
    environment = {**os.environ, "PGPASSWORD": settings.password}
    return argv, environment


def psql(settings: Settings, *, command: str = "") -> None:
    """Replace this process with psql inside the running dev container."""
    container = existing_dev_container(settings, "psql")
    if container.status != "running":
        raise DevDbError(
            f"{container.name} is {container.status}, not running",
            "start it with `invoke db.up`",
        )
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise DevDbError(
            "the docker command-line client is not installed; db.psql runs "
            "`docker exec` for a terminal",
            "install the docker CLI (package docker-ce-cli or docker.io)",
        )
    argv, environment = psql_invocation(
        settings,
        container.name,
        command=command,
        tty=sys.stdin.isatty(),
        docker_cli=docker_cli,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(docker_cli, argv, environment)
