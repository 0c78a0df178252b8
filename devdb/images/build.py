"""The offline build: a Debian root filesystem plus a FROM scratch Dockerfile.

Offline builds need no registry at all: debootstrap fetches Debian's own PostgreSQL
and TimescaleDB packages into a root filesystem, and ``db/image/Dockerfile`` (FROM
scratch) adds it with an entrypoint that honours the official image's contract. They
carry their own name, never the official one, and labels with their real versions.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import progress
from devdb.images.cluster_identity import HELPER_NAME, compiled_cluster_identity
from devdb.images.rootfs import (
    PRUNED_GLOBS,
    RUNTIME_PACKAGES,
    cached_rootfs,
    require_build_tools,
    upstream_version,
)
from devdb.images.sources import find_archive
from devdb.images.steps import docker_build, link_or_copy
from devdb.images.table import ImageSpec
from devdb.images.timescaledb import (
    IMAGE_CONTEXT_DIR,
    compiled_timescaledb,
    merge_layers,
)
from devdb.settings import Settings, load_settings

if TYPE_CHECKING:
    import docker


def image_labels(spec: ImageSpec, versions: dict[str, str]) -> dict[str, str]:
    postgres = upstream_version(versions[f"postgresql-{spec.postgres_major}"])
    timescaledb_package = f"postgresql-{spec.postgres_major}-timescaledb"
    if spec.source_versions:
        timescaledb = spec.source_versions[-1]
        carried = " ".join(spec.source_versions)
        origin = f"TimescaleDB {carried} compiled from source (with tsl/)"
    elif timescaledb_package in versions:
        timescaledb = carried = upstream_version(versions[timescaledb_package])
        origin = f"Debian's TimescaleDB {timescaledb} (Apache-only)"
    else:
        timescaledb, carried, origin = "none", "", "no TimescaleDB"
    result = {
        labels.PROJECT: labels.PROJECT_NAME,
        labels.IMAGE_ID: spec.id,
        labels.POSTGRES_VERSION: postgres,
        labels.TIMESCALEDB_VERSION: timescaledb,
        labels.TIMESCALEDB_VERSIONS: carried,
        labels.TIMESCALEDB_LICENSE: spec.licence,
        labels.DEBIAN_SUITE: spec.suite,
        "org.opencontainers.image.title": f"stock-tracker offline {spec.id}",
        "org.opencontainers.image.description": (
            f"PostgreSQL {postgres} from Debian {spec.suite}, {origin}, built "
            "offline with debootstrap; not the official image"
        ),
    }
    return result


def build_offline(
    client: docker.DockerClient,
    spec: ImageSpec,
    *,
    mirror: str,
    settings: Settings | None = None,
) -> str:
    """Build ``spec.offline``; return its reference.

    Rows with ``source_versions`` get TimescaleDB compiled from verified source
    archives in a builder stage; the others Debian's packages only. Every row
    gets the helper that gives each copied cluster its own identity, compiled
    against its PostgreSQL (devdb.images.cluster_identity). Root
    filesystems and compiled TimescaleDB are kept in ``settings.cache_dir``, so an
    image whose parts have not changed is rebuilt in seconds.
    """
    settings = settings or load_settings()
    # Every archive is found and verified before anything slow starts: a missing
    # one is an error now, never an Apache-only image later.
    archives = [
        find_archive(
            settings.timescaledb_sources_location(),
            version,
            download_dir=settings.cache_dir / "downloads",
        )
        for version in spec.source_versions
    ]
    debootstrap = require_build_tools()
    cache = settings.cache_dir
    runtime = functools.partial(
        cached_rootfs,
        debootstrap,
        cache,
        role="runtime",
        suite=spec.suite,
        packages=(*spec.packages, *RUNTIME_PACKAGES),
        mirror=mirror,
        pruned_globs=PRUNED_GLOBS,
    )
    # The runtime root filesystem is made while TimescaleDB compiles: both are
    # mostly one core's work (dpkg, then gcc's links and the slowest files), and
    # together they are most of a build from nothing.
    with ThreadPoolExecutor(max_workers=1) as pool:
        runtime_made = pool.submit(runtime, quiet=bool(archives))
        compiled = [
            compiled_timescaledb(client, spec, archive, cache, debootstrap, mirror)
            for archive in archives
        ]
        helper = compiled_cluster_identity(client, spec, cache, debootstrap, mirror)
        rootfs_tar, versions = runtime_made.result()
    with tempfile.TemporaryDirectory(
        prefix=f"devdb-{spec.id}-", dir="/var/tmp"
    ) as work:
        context = Path(work)
        link_or_copy(rootfs_tar, context / "rootfs.tar")
        merge_layers(compiled, context / "timescaledb.tar")
        shutil.copy2(helper, context / HELPER_NAME)
        for name in ("Dockerfile", "docker-entrypoint.sh", "tune-timescaledb.sh"):
            shutil.copy2(IMAGE_CONTEXT_DIR / name, context / name)
        with progress(f"Building image {spec.offline}") as update:
            docker_build(
                client,
                context,
                tag=spec.offline,
                buildargs={
                    "PG_MAJOR": str(spec.postgres_major),
                    "PGDATA_DIR": spec.pgdata,
                    "VOLUME_DIR": spec.volume_path,
                },
                image_labels=image_labels(spec, versions),
                update=update,
            )
    return spec.offline
