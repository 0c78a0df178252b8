"""The steps every offline build runs: a command with its output kept, a docker
build, cache keys and files moved into a build context."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.console import console, note, verbose
from devdb.errors import DevDbError, first_line

if TYPE_CHECKING:
    import docker


def short_hash(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def quietly(title: str) -> Iterator[Callable[[str], None]]:
    """progress() for work in a background thread: a line at the end only (two live
    displays would garble each other), and one at the start where someone watches
    or the output streams; failures still carry their tail."""
    started = time.monotonic()
    if console.is_terminal or verbose():
        note(f"{title}, in the background")
    yield lambda _line: None
    note(f"done: {title} ({time.monotonic() - started:.0f} s, in the background)")


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link when the cache and the build context share a file system."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def docker_build(
    client: docker.DockerClient,
    context: Path,
    *,
    tag: str,
    buildargs: dict[str, str],
    image_labels: dict[str, str],
    update: Callable[[str], None],
) -> None:
    """``docker build`` of ``context``, retried when Docker loses a layer mid-build.

    This engine (20.10, fuse-overlayfs) failed exports with ``failed to get layer
    ...: layer does not exist`` after an ``ADD`` that changed nothing; that cause
    is gone (timescaledb_build.merge_layers), and should the failure come back
    another way, the build is tried again without the layer cache, twice at most.
    """
    for attempt in range(LOST_LAYER_ATTEMPTS):
        try:
            _docker_build(
                client,
                context,
                tag,
                buildargs,
                image_labels,
                update,
                nocache=attempt > 0,
            )
            return
        except DevDbError as error:
            if "layer does not exist" not in error.message or (
                attempt == LOST_LAYER_ATTEMPTS - 1
            ):
                raise
            update(f"{first_line(error.message)}; building again without the cache")
            time.sleep(2 * (attempt + 1))  # let the engine finish what it was doing


LOST_LAYER_ATTEMPTS = 3


def _docker_build(
    client: docker.DockerClient,
    context: Path,
    tag: str,
    buildargs: dict[str, str],
    image_labels: dict[str, str],
    update: Callable[[str], None],
    *,
    nocache: bool,
) -> None:
    import docker.errors  # lazy: docker-py costs `invoke --list` a quarter second

    try:
        for event in client.api.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            labels=image_labels,
            rm=True,
            forcerm=True,
            nocache=nocache,
            decode=True,
        ):
            if "error" in event:
                raise DevDbError(
                    f"docker build of {tag} failed: {event['error'].strip()}",
                    "read the build output above; `invoke image.build --force` retries",
                )
            line = event.get("stream", "").strip()
            if line:
                update(line)
    except docker.errors.APIError as error:
        raise DevDbError(
            f"docker build of {tag} failed: {first_line(str(error))}",
            "check the Docker daemon's disk space and logs, then retry",
        ) from None


def run_streaming(
    command: list[str], update: Callable[[str], None], *, what: str
) -> None:
    """Run a build step, feeding each output line to ``update``; keep the tail."""
    tail: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail = [*tail, line][-15:]
            update(line)
    if process.returncode != 0:
        raise DevDbError(
            f"{what} failed (exit {process.returncode}); last lines:\n"
            + "\n".join(tail),
            "check that Debian's archive is reachable (DEVDB_DEBIAN_MIRROR) "
            "and there is disk space under /var/tmp, then retry",
        )
