"""Shell access to the dev container: its server log, and psql inside it."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from devdb.containers.dev import existing_dev_container
from devdb.database import dbname_conninfo
from devdb.errors import DevDbError

if TYPE_CHECKING:
    from devdb.settings import Settings


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
        dbname_conninfo(settings.database),
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
        container.name or settings.container_name,
        command=command,
        tty=sys.stdin.isatty(),
        docker_cli=docker_cli,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(docker_cli, argv, environment)
