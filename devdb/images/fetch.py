"""Getting an image: present, pulled from a registry, or built offline.

Which reference a row resolves to follows ``image_source`` (see
``ImageSpec.accepted_refs``); an offline build is never taken for the official
image, and ``auto`` says out loud when it falls back to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devdb.console import note, progress
from devdb.errors import DevDbError, first_line
from devdb.images.build import build_offline
from devdb.images.table import ImageSpec

if TYPE_CHECKING:
    import docker


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    import docker.errors  # lazy: docker-py costs `invoke --list` a quarter second

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def pull(
    client: docker.DockerClient, ref: str, *, announce_failure: bool = True
) -> None:
    """Pull with progress, or raise DevDbError saying how to build offline."""
    import docker.errors

    repository, _, tag = ref.rpartition(":")
    try:
        with progress(f"Pulling {ref}", announce_failure=announce_failure) as update:
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise docker.errors.APIError(event["error"])
                status = event.get("status", "")
                update(f"{event.get('id', '')} {status} {event.get('progress', '')}")
    except docker.errors.APIError as error:
        reason = getattr(error, "explanation", None) or str(error)
        raise DevDbError(
            f"could not pull {ref}: {first_line(str(reason))}",
            "no registry answers here? Build the image offline: "
            "`invoke image.build`, then set DEVDB_IMAGE_SOURCE=offline "
            '(or image_source = "offline" in devdb.local.toml)',
        ) from None


def ensure_image(
    client: docker.DockerClient, spec: ImageSpec, source: str, *, mirror: str
) -> str:
    """The reference to run for ``spec``, pulling or building it when missing.

    official: present, or pulled, or an error; offline: present, or built;
    auto: whichever is present (official first), else pulled, else built offline,
    saying so, so nobody mistakes the offline build for the official image.
    """
    if source == "official":
        if not image_exists(client, spec.official):
            pull(client, spec.official)
        return spec.official
    if source == "offline":
        if not image_exists(client, spec.offline):
            build_offline(client, spec, mirror=mirror)
        return spec.offline
    for ref in spec.accepted_refs("auto"):
        if image_exists(client, ref):
            return ref
    try:
        # A failure here is the usual case without a registry: the one line below
        # says it and what happens instead.
        pull(client, spec.official, announce_failure=False)
        return spec.official
    except DevDbError as error:
        note(f"{error.message}; building the offline image {spec.offline} instead")
    build_offline(client, spec, mirror=mirror)
    return spec.offline


def build(
    client: docker.DockerClient, spec: ImageSpec, *, force: bool = False, mirror: str
) -> bool:
    """Build the offline image unless it exists (or ``force``); True when built."""
    if not force and image_exists(client, spec.offline):
        note(f"{spec.offline} exists; nothing to build (--force rebuilds it)")
        return False
    build_offline(client, spec, mirror=mirror)
    return True
