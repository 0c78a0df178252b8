"""The full TimescaleDB (with tsl/), compiled from a verified source archive in a
builder stage and kept as a tarball per PostgreSQL major, suite and version."""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import progress
from devdb.images.rootfs import PRUNED_GLOBS, cached_rootfs
from devdb.images.sources import SourceArchive
from devdb.images.steps import docker_build, link_or_copy, short_hash
from devdb.images.table import OFFLINE_REPOSITORY, ImageSpec
from devdb.settings import PROJECT_ROOT

if TYPE_CHECKING:
    import docker

IMAGE_CONTEXT_DIR = PROJECT_ROOT / "db" / "image"


def builder_packages(postgres_major: int) -> tuple[str, ...]:
    """What compiling TimescaleDB needs (vendor README); clang/LLVM come along as
    postgresql-server-dev's dependencies and are pruned: CMake builds with gcc."""
    return (
        "gcc",
        "make",
        "cmake",
        "patch",
        "xz-utils",
        f"postgresql-server-dev-{postgres_major}",
        "libssl-dev",
        "libkrb5-dev",
        "libicu-dev",  # 2.29's pg_locale.h includes unicode/ucol.h
    )


# The builder never runs LLVM or clang; they are most of its size.
BUILDER_PRUNED_GLOBS = (
    *PRUNED_GLOBS,
    "usr/lib/llvm-*",
    "usr/lib/*/libclang*",
)


def patch_files() -> list[Path]:
    return sorted((IMAGE_CONTEXT_DIR / "patches").glob("*.patch"))


def compiled_timescaledb(
    client: docker.DockerClient,
    spec: ImageSpec,
    archive: SourceArchive,
    cache: Path,
    debootstrap: str,
    mirror: str,
) -> Path:
    """What ``make install`` of ``archive`` puts into the server, as a cached tarball.

    Compiled in a builder stage (db/image/Dockerfile.builder) from a builder root
    filesystem; keyed by everything that changes the result: the archive's checksum,
    the patches, the build script and the builder's packages.
    """
    packages = builder_packages(spec.postgres_major)
    script = IMAGE_CONTEXT_DIR / "build-timescaledb.sh"
    key = short_hash(
        archive.sha256,
        script.read_bytes(),
        *(patch.read_bytes() for patch in patch_files()),
        *packages,
    )
    target = (
        cache
        / "timescaledb"
        / f"pg{spec.postgres_major}-{spec.suite}-{archive.version}-{key}.tar"
    )
    if target.is_file():
        return target
    compile_in_builder(
        client,
        spec,
        cache=cache,
        debootstrap=debootstrap,
        mirror=mirror,
        inputs={
            "timescaledb-source": archive.path,
            "patches": IMAGE_CONTEXT_DIR / "patches",
            "build-timescaledb.sh": script,
            "Dockerfile": IMAGE_CONTEXT_DIR / "Dockerfile.builder",
        },
        buildargs={
            "PG_MAJOR": str(spec.postgres_major),
            "TIMESCALEDB_VERSION": archive.version,
        },
        tag=f"{OFFLINE_REPOSITORY}-builder:pg{spec.postgres_major}-{archive.version}",
        artifact="/timescaledb-build.tar",
        target=target,
        title=f"Compiling TimescaleDB {archive.version} for PostgreSQL "
        f"{spec.postgres_major} (Debian {spec.suite})",
    )
    return target


def compile_in_builder(
    client: docker.DockerClient,
    spec: ImageSpec,
    *,
    cache: Path,
    debootstrap: str,
    mirror: str,
    inputs: dict[str, Path],
    buildargs: dict[str, str],
    tag: str,
    artifact: str,
    target: Path,
    title: str,
) -> None:
    """Build ``inputs`` on the builder root filesystem of ``spec``'s PostgreSQL and
    suite, and keep one file of the result (``artifact``) at ``target``.

    ``inputs`` names each file or folder of the build context (a ``Dockerfile``
    among them); the builder's own root filesystem is added as
    ``builder-rootfs.tar``, the base every builder Dockerfile starts from.
    """
    builder_tar, _ = cached_rootfs(
        debootstrap,
        cache,
        role="builder",
        suite=spec.suite,
        packages=builder_packages(spec.postgres_major),
        mirror=mirror,
        pruned_globs=BUILDER_PRUNED_GLOBS,
    )
    with tempfile.TemporaryDirectory(prefix="devdb-builder-", dir="/var/tmp") as work:
        context = Path(work)
        link_or_copy(builder_tar, context / "builder-rootfs.tar")
        for name, source in inputs.items():
            if source.is_dir():
                shutil.copytree(source, context / name)
            else:
                shutil.copy2(source, context / name)
        with progress(title) as update:
            docker_build(
                client,
                context,
                tag=tag,
                buildargs=buildargs,
                image_labels={labels.PROJECT: labels.PROJECT_NAME},
                update=update,
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_out_of_image(client, tag, artifact, target)
        finally:
            # The builder image is big and holds a compiler; the one file is all
            # that is kept.
            remove_image(client, tag)


def copy_out_of_image(
    client: docker.DockerClient, image: str, path: str, target: Path
) -> None:
    """Copy one file out of an image (through a created, never started, container)."""
    container = client.containers.create(image, command=["true"])
    try:
        stream, _ = container.get_archive(path)
        with tempfile.TemporaryFile(dir=target.parent) as wrapped:
            for chunk in stream:
                wrapped.write(chunk)
            wrapped.seek(0)
            with tarfile.open(fileobj=wrapped) as outer:
                member = outer.extractfile(Path(path).name)
                assert member is not None, f"{path} is not a file in {image}"
                partial = target.with_suffix(".partial")
                with partial.open("wb") as handle:
                    shutil.copyfileobj(member, handle)
        partial.rename(target)
    finally:
        container.remove(force=True)


def remove_image(client: docker.DockerClient, tag: str) -> None:
    import docker.errors

    # Already gone, or in use: a leftover costs disk, not correctness.
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(tag)


NO_SOURCE_BUILD_PATH = "usr/local/share/stock-tracker-devdb/timescaledb-from-source"
NO_SOURCE_BUILD_NOTE = (
    "none: this image's TimescaleDB, if it has one, is Debian's package\n"
)


def merge_layers(tarballs: list[Path], target: Path) -> None:
    """One tarball of ``tarballs`` in order, a later one's file replacing an earlier's.

    Installing TimescaleDB versions oldest first, newest last, keeps the newest's
    loader (timescaledb.so) and control file (vendor README). With no tarballs
    (rows without a source build) it holds one small note saying so: the
    Dockerfile's ``ADD`` needs an archive, and one that changes nothing made an
    empty layer that this engine (20.10, fuse-overlayfs) then failed to find when
    it committed the next step ("failed to get layer ...: layer does not exist").
    """
    chosen: dict[str, tuple[Path, tarfile.TarInfo]] = {}
    for tarball in tarballs:
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                chosen[member.name] = (tarball, member)
    with tarfile.open(target, "w") as merged:
        if not chosen:
            note = NO_SOURCE_BUILD_NOTE.encode()
            placeholder = tarfile.TarInfo(NO_SOURCE_BUILD_PATH)
            placeholder.size = len(note)
            placeholder.mode = 0o644
            merged.addfile(placeholder, io.BytesIO(note))
            return
        with contextlib.ExitStack() as stack:
            opened = {
                tarball: stack.enter_context(tarfile.open(tarball))
                for tarball in tarballs
            }
            for tarball, member in chosen.values():
                source = opened[tarball]
                data = source.extractfile(member) if member.isfile() else None
                merged.addfile(member, data)
