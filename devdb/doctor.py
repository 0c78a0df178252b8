"""`invoke doctor`: can this machine run the dev database? Each check says how to fix.

The checks only look; they change nothing, so doctor is safe to run anytime (and
scripts/onboard.sh runs it before it creates anything big).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.containers import engine as containers
from devdb.errors import DevDbError
from devdb.images import rootfs
from devdb.images import table as images
from devdb.images.fetch import image_exists

if TYPE_CHECKING:
    import docker

    from devdb.settings import Settings

MIN_PYTHON = (3, 11)
# An offline build needs ~0.6 GB under /var/tmp while it runs; the image is ~0.25 GB
# and a dev database with a few days of ticks a few hundred MB more.
MIN_FREE_BYTES = 2 * 1024**3
REGISTRY_HOST = ("registry-1.docker.io", 443)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # what to do when not ok


def python_check(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Check("Python", True, f"{shown} at {sys.executable}")
    return Check(
        "Python",
        False,
        f"{shown} is older than {'.'.join(map(str, MIN_PYTHON))}",
        "install Python 3.11 or newer (`sudo apt-get install python3.11-venv`, or "
        "pyenv/uv) and re-run scripts/onboard.sh",
    )


def docker_check() -> tuple[Check, docker.DockerClient | None]:
    try:
        client = containers.docker_client()
    except DevDbError as error:
        return Check("Docker daemon", False, error.message, error.tip), None
    version = client.version().get("Version", "?")
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    return Check("Docker daemon", True, f"Docker {version} at {where}"), client


def disk_check(paths: list[Path], minimum: int = MIN_FREE_BYTES) -> Check:
    """Free space on each filesystem we will write to (Docker's root, /var/tmp)."""
    lowest: tuple[int, Path] | None = None
    for path in paths:
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        if lowest is None or free < lowest[0]:
            lowest = (free, path)
    assert lowest is not None
    free, path = lowest
    shown = f"{free / 1024**3:.1f} GB free under {path}"
    if free >= minimum:
        return Check("Disk space", True, shown)
    return Check(
        "Disk space",
        False,
        f"only {shown}; {minimum / 1024**3:.0f} GB are needed",
        "free some space (`docker system prune` removes unused images and "
        "stopped containers)",
    )


def disk_paths(client: docker.DockerClient | None) -> list[Path]:
    paths = [Path("/var/tmp")]
    if client is not None:
        root = client.info().get("DockerRootDir")
        # A remote engine's disk is not ours to measure.
        if root and containers.docker_engine_is_local():
            paths.append(Path(root))
    return paths


def port_check(settings: Settings, client: docker.DockerClient | None) -> Check:
    """The configured port is free, or it is our own dev container that holds it."""
    if settings.exact_target:
        return Check(
            "Port", True, f"not needed: DATABASE_URL names {settings.safe_url()}"
        )
    if settings.port == 0:
        return Check("Port", True, "0: db.up picks any free port")
    if containers.port_is_free(settings.port):
        return Check("Port", True, f"127.0.0.1:{settings.port} is free")
    if client is not None:
        container = containers.find_container(client, settings.container_name)
        if (
            container is not None
            and container.labels.get(labels.PROJECT) == labels.PROJECT_NAME
            and container.status == "running"
            and containers.published_port(container) == settings.port
        ):
            return Check(
                "Port", True, f"127.0.0.1:{settings.port} is our {container.name}"
            )
    return Check(
        "Port",
        False,
        f"127.0.0.1:{settings.port} is used by another program",
        f"stop it (`ss -ltnp 'sport = :{settings.port}'` shows it), or use another "
        "port: DEVDB_PORT=5433, or port = 5433 in devdb.local.toml (0: any free one)",
    )


def registry_answers(timeout: float = 2.0) -> bool:
    """Whether Docker Hub is reachable at all (a TCP connect, nothing pulled)."""
    try:
        with socket.create_connection(REGISTRY_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def image_checks(
    settings: Settings,
    client: docker.DockerClient | None,
    registry: Callable[[], bool] = registry_answers,
) -> list[Check]:
    """Is the image here? If not: can it be pulled, or else built offline?"""
    spec = images.image_spec(settings.image)
    if client is None:
        return [Check("Image", False, "cannot tell without Docker", "fix Docker first")]
    wanted = spec.accepted_refs(settings.image_source)
    present = [ref for ref in wanted if image_exists(client, ref)]
    if present:
        return [
            Check("Image", True, f"{present[0]} is present"),
            Check("debootstrap", True, "not needed: the image is present"),
        ]
    can_pull = settings.image_source != "offline" and registry()
    builder = rootfs.debootstrap_path()
    checks: list[Check] = []
    if can_pull:
        checks.append(Check("Image", True, f"{spec.official} will be pulled by db.up"))
        checks.append(Check("debootstrap", True, "not needed: a registry answers"))
        return checks
    if settings.image_source == "official":
        checks.append(
            Check(
                "Image",
                False,
                f"{spec.official} is missing and no registry answers",
                "build offline instead: DEVDB_IMAGE_SOURCE=offline (or image_source = "
                '"offline" in devdb.local.toml), then `invoke db.up`',
            )
        )
        return checks
    can_build = builder is not None and os.geteuid() == 0
    checks.append(
        Check(
            "Image",
            can_build,
            f"{spec.offline} is missing; "
            + (
                "db.up builds it offline (~1 min)"
                if can_build
                else "it cannot be built here"
            ),
            "" if can_build else "see the debootstrap row",
        )
    )
    if builder is None:
        checks.append(
            Check(
                "debootstrap",
                False,
                "not installed, and no registry answers: the image must be built offline",
                "`sudo apt-get install debootstrap` (scripts/onboard.sh does it as root)",
            )
        )
    elif os.geteuid() != 0:
        checks.append(
            Check(
                "debootstrap",
                False,
                f"{builder} is there but offline builds need root",
                "run the build once as root: `sudo .venv/bin/invoke image.build`",
            )
        )
    else:
        checks.append(Check("debootstrap", True, f"{builder}, running as root"))
    return checks


def run_checks(settings: Settings) -> list[Check]:
    checks = [python_check()]
    docker_result, client = docker_check()
    checks.append(docker_result)
    checks.append(disk_check(disk_paths(client)))
    checks.append(port_check(settings, client))
    checks.extend(image_checks(settings, client))
    return checks


def missing_build_tools(settings: Settings) -> list[str]:
    """The build tools the configured image needs and this machine lacks.

    Empty when the image is present, a registry answers, or Docker is not
    reachable (the full doctor run explains that).
    """
    _, client = docker_check()
    if client is None:
        return []
    return [
        check.name
        for check in image_checks(settings, client)
        if check.name == "debootstrap" and not check.ok
    ]
