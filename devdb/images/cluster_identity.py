"""The helper that gives every copied cluster an identity of its own.

``db/image/new-cluster-identity.c`` draws a new system identifier and
mock-authentication nonce for a cluster copied from the image's build-time one,
as initdb would. It is compiled in a builder stage against the row's own
PostgreSQL headers and libpgcommon (the control file's layout is the server's),
and kept per PostgreSQL major and suite: rows that share both share the binary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devdb.images.steps import short_hash
from devdb.images.table import OFFLINE_REPOSITORY, ImageSpec
from devdb.images.timescaledb import (
    IMAGE_CONTEXT_DIR,
    builder_packages,
    compile_in_builder,
)

if TYPE_CHECKING:
    import docker

HELPER_NAME = "new-cluster-identity"


def compiled_cluster_identity(
    client: docker.DockerClient,
    spec: ImageSpec,
    cache: Path,
    debootstrap: str,
    mirror: str,
) -> Path:
    """The helper's binary for ``spec``'s PostgreSQL, compiled once and cached."""
    packages = builder_packages(spec.postgres_major)
    source = IMAGE_CONTEXT_DIR / f"{HELPER_NAME}.c"
    dockerfile = IMAGE_CONTEXT_DIR / "Dockerfile.helper"
    key = short_hash(source.read_bytes(), dockerfile.read_bytes(), *packages)
    target = (
        cache / "helpers" / f"{HELPER_NAME}-pg{spec.postgres_major}-{spec.suite}-{key}"
    )
    if target.is_file():
        return target
    compile_in_builder(
        client,
        spec,
        cache=cache,
        debootstrap=debootstrap,
        mirror=mirror,
        inputs={source.name: source, "Dockerfile": dockerfile},
        buildargs={"PG_MAJOR": str(spec.postgres_major)},
        tag=f"{OFFLINE_REPOSITORY}-builder:pg{spec.postgres_major}-{HELPER_NAME}",
        artifact=f"/{HELPER_NAME}",
        target=target,
        title=f"Compiling {HELPER_NAME} for PostgreSQL {spec.postgres_major} "
        f"(Debian {spec.suite})",
    )
    target.chmod(0o755)
    return target
