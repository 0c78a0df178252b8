"""The helper that gives every copied cluster an identity of its own.

``db/image/new-cluster-identity.c`` draws a new system identifier and
mock-authentication nonce for a cluster copied from the image's build-time one,
as initdb would. It is compiled in a builder stage against the row's own
PostgreSQL headers and libpgcommon (the control file's layout is the server's),
and kept per PostgreSQL major and suite: rows that share both share the binary.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import progress
from devdb.images.rootfs import cached_rootfs
from devdb.images.steps import docker_build, link_or_copy, short_hash
from devdb.images.table import OFFLINE_REPOSITORY, ImageSpec
from devdb.images.timescaledb import (
    BUILDER_PRUNED_GLOBS,
    IMAGE_CONTEXT_DIR,
    builder_packages,
    copy_out_of_image,
    remove_image,
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
    builder_tar, _ = cached_rootfs(
        debootstrap,
        cache,
        role="builder",
        suite=spec.suite,
        packages=packages,
        mirror=mirror,
        pruned_globs=BUILDER_PRUNED_GLOBS,
    )
    tag = f"{OFFLINE_REPOSITORY}-builder:pg{spec.postgres_major}-{HELPER_NAME}"
    with tempfile.TemporaryDirectory(prefix="devdb-helper-", dir="/var/tmp") as work:
        context = Path(work)
        link_or_copy(builder_tar, context / "builder-rootfs.tar")
        shutil.copy2(source, context / source.name)
        shutil.copy2(dockerfile, context / "Dockerfile")
        with progress(
            f"Compiling {HELPER_NAME} for PostgreSQL {spec.postgres_major} "
            f"(Debian {spec.suite})"
        ) as update:
            docker_build(
                client,
                context,
                tag=tag,
                buildargs={"PG_MAJOR": str(spec.postgres_major)},
                image_labels={labels.PROJECT: labels.PROJECT_NAME},
                update=update,
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_out_of_image(client, tag, f"/{HELPER_NAME}", target)
        finally:
            remove_image(client, tag)
    target.chmod(0o755)
    return target
