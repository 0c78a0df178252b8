"""The offline build: a Debian root filesystem plus a FROM scratch Dockerfile.

Offline builds need no registry at all: debootstrap fetches Debian's own PostgreSQL
and TimescaleDB packages into a root filesystem, and ``db/image/Dockerfile`` (FROM
scratch) adds it with an entrypoint that honours the official image's contract. They
carry their own name, never the official one, and labels with their real versions.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import note, progress
from devdb.errors import DevDbError, first_line
from devdb.images import OFFLINE_REPOSITORY, ImageSpec
from devdb.settings import PROJECT_ROOT, Settings, load_settings
from devdb.timescaledb_sources import SourceArchive, find_archive

if TYPE_CHECKING:
    import docker

IMAGE_CONTEXT_DIR = PROJECT_ROOT / "db" / "image"

# Lean images: documentation, manuals, translations, locale sources and apt's caches
# are never read by a database server. LLVM (JIT) is more than half of the root
# filesystem and only speeds up analytical queries; without it PostgreSQL runs with
# jit unavailable, which a dev and test database does not miss.
PRUNED_PATHS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/i18n",
    "usr/share/lintian",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
    "var/lib/postgresql",  # the package's own cluster; the entrypoint makes ours
    "etc/postgresql",
)
# What the entrypoint needs beyond the server, as in the official image: xz and zstd
# for *.sql.xz / *.sql.zst init files, nss_wrapper so `--user <any uid>` can run
# initdb (it refuses a uid without a passwd entry), and `locales` for the sources
# of the one locale generated at build time (LOCALES); its sources are pruned after.
RUNTIME_PACKAGES = ("xz-utils", "zstd", "libnss-wrapper", "locales")
# The official images offer en_US.UTF-8 (`LANG=en_US.utf8 initdb` must work).
LOCALES = (("en_US", "UTF-8"),)
# The official images' postgres user and group: a volume one of them initialised
# is owned by 999, and must stay usable when a machine switches image source.
POSTGRES_UID = POSTGRES_GID = 999
PRUNED_GLOBS = (
    "usr/lib/*/libLLVM*",
    "usr/lib/*/libz3*",
    "usr/lib/postgresql/*/lib/llvmjit*",
    "usr/lib/postgresql/*/lib/bitcode",
)


def dpkg_versions(status_text: str) -> dict[str, str]:
    """Installed package versions from a dpkg status file."""
    versions: dict[str, str] = {}
    for stanza in status_text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Status): (.*)$", stanza, re.M))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            versions[fields["Package"]] = fields["Version"]
    return versions


def upstream_version(debian_version: str) -> str:
    """'2.19.3+dfsg-1' -> '2.19.3'; '17.6-1.pgdg+1' -> '17.6'; '1:2.0-3' -> '2.0'."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    return re.split(r"[+~]", version, maxsplit=1)[0]


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


def debootstrap_path() -> str | None:
    """debootstrap's path; /usr/sbin is searched too, as a non-root PATH lacks it."""
    return shutil.which("debootstrap") or shutil.which(
        "debootstrap", path="/usr/sbin:/sbin"
    )


def require_build_tools() -> str:
    debootstrap = debootstrap_path()
    if debootstrap is None:
        raise DevDbError(
            "debootstrap is not installed; offline images are built with it",
            "install it: `sudo apt-get install debootstrap` (scripts/onboard.sh does)",
        )
    if os.geteuid() != 0:
        raise DevDbError(
            "building an offline image needs root (debootstrap chroots and chowns)",
            "run it as root: `sudo .venv/bin/invoke image.build`",
        )
    return debootstrap


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


def short_hash(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def patch_files() -> list[Path]:
    return sorted((IMAGE_CONTEXT_DIR / "patches").glob("*.patch"))


def build_offline(
    client: docker.DockerClient,
    spec: ImageSpec,
    *,
    mirror: str,
    settings: Settings | None = None,
) -> str:
    """Build ``spec.offline``; return its reference.

    Rows with ``source_versions`` get TimescaleDB compiled from verified source
    archives in a builder stage; the others Debian's packages only. Root
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
        rootfs_tar, versions = runtime_made.result()
    with tempfile.TemporaryDirectory(
        prefix=f"devdb-{spec.id}-", dir="/var/tmp"
    ) as work:
        context = Path(work)
        link_or_copy(rootfs_tar, context / "rootfs.tar")
        merge_layers(compiled, context / "timescaledb.tar")
        for name in ("Dockerfile", "docker-entrypoint.sh"):
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


def cached_rootfs(
    debootstrap: str,
    cache: Path,
    *,
    role: str,
    suite: str,
    packages: tuple[str, ...],
    mirror: str,
    pruned_globs: tuple[str, ...],
    quiet: bool = False,
) -> tuple[Path, dict[str, str]]:
    """A pruned root filesystem as a tarball, and its package versions.

    Kept per (role, suite, packages): Debian moves on, so `rm -r .cache/devdb/rootfs`
    is how a build picks up newer packages (sid's especially).
    """
    # The runtime's locale and ids are part of what it is: a change rebuilds it.
    customised = (
        (*(f"{name}.{charmap}" for name, charmap in LOCALES), f"uid{POSTGRES_UID}")
        if role == "runtime"
        else ()
    )
    key = short_hash(
        suite, mirror, *packages, *pruned_globs, *PRUNED_PATHS, *customised
    )
    target = cache / "rootfs" / f"{role}-{suite}-{key}.tar"
    status_file = target.with_suffix(".dpkg-status")
    if target.is_file() and status_file.is_file():
        return target, dpkg_versions(status_file.read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Downloaded .debs are kept per suite and role (the two roles' debootstraps may
    # run at once and must not write the same files): a rebuild needs no network.
    debs = cache / "debs" / f"{suite}-{role}"
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f"devdb-{role}-{suite}-", dir="/var/tmp"
    ) as work:
        rootfs = Path(work) / "rootfs"
        command = [
            debootstrap,
            "--variant=minbase",
            f"--cache-dir={debs.resolve()}",
            f"--include={','.join(packages)}",
            suite,
            str(rootfs),
            mirror,
        ]
        title = f"Building the {role} root filesystem (Debian {suite})"
        with quietly(title) if quiet else progress(title) as update:
            debootstrap_with_one_retry(command, rootfs, update, suite)
            status = (rootfs / "var/lib/dpkg/status").read_text()
            if role == "runtime":
                # The official images' locale and postgres ids (see their docs).
                generate_locales(rootfs)
                renumber_postgres_user(rootfs)
            prune_rootfs(rootfs, pruned_globs)
            (rootfs / "docker-entrypoint-initdb.d").mkdir(exist_ok=True)
            partial = target.with_suffix(".partial")
            run_streaming(
                ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."],
                update,
                what="tar",
            )
    status_file.write_text(status)
    partial.rename(target)
    return target, dpkg_versions(status)


@contextlib.contextmanager
def quietly(title: str) -> Iterator[Callable[[str], None]]:
    """progress() for work in a background thread: a line at the start and end only
    (two live displays would garble each other); failures still carry their tail."""
    note(f"{title}, in the background")
    yield lambda _line: None
    note(f"done: {title}")


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
    builder_tar, _ = cached_rootfs(
        debootstrap,
        cache,
        role="builder",
        suite=spec.suite,
        packages=packages,
        mirror=mirror,
        pruned_globs=BUILDER_PRUNED_GLOBS,
    )
    tag = f"{OFFLINE_REPOSITORY}-builder:pg{spec.postgres_major}-{archive.version}"
    with tempfile.TemporaryDirectory(prefix="devdb-builder-", dir="/var/tmp") as work:
        context = Path(work)
        link_or_copy(builder_tar, context / "builder-rootfs.tar")
        shutil.copy2(archive.path, context / "timescaledb-source")
        shutil.copytree(IMAGE_CONTEXT_DIR / "patches", context / "patches")
        shutil.copy2(script, context / "build-timescaledb.sh")
        shutil.copy2(IMAGE_CONTEXT_DIR / "Dockerfile.builder", context / "Dockerfile")
        with progress(
            f"Compiling TimescaleDB {archive.version} for PostgreSQL "
            f"{spec.postgres_major} (Debian {spec.suite})"
        ) as update:
            docker_build(
                client,
                context,
                tag=tag,
                buildargs={
                    "PG_MAJOR": str(spec.postgres_major),
                    "TIMESCALEDB_VERSION": archive.version,
                },
                image_labels={labels.PROJECT: labels.PROJECT_NAME},
                update=update,
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_out_of_image(client, tag, "/timescaledb-build.tar", target)
        finally:
            # The builder image is big and holds a compiler; the tarball is all
            # that is kept.
            remove_image(client, tag)
    return target


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


def merge_layers(tarballs: list[Path], target: Path) -> None:
    """One tarball of ``tarballs`` in order, a later one's file replacing an earlier's.

    Installing TimescaleDB versions oldest first, newest last, keeps the newest's
    loader (timescaledb.so) and control file (vendor README). With no tarballs
    (rows without a source build) it holds one directory entry, so ``ADD`` still
    sees an archive and unpacks nothing.
    """
    chosen: dict[str, tuple[Path, tarfile.TarInfo]] = {}
    for tarball in tarballs:
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                chosen[member.name] = (tarball, member)
    with tarfile.open(target, "w") as merged:
        if not chosen:
            placeholder = tarfile.TarInfo("usr/")
            placeholder.type = tarfile.DIRTYPE
            placeholder.mode = 0o755
            merged.addfile(placeholder)
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


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link when the cache and the build context share a file system."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def debootstrap_with_one_retry(
    command: list[str], rootfs: Path, update: Callable[[str], None], suite: str
) -> None:
    """debootstrap, and once more from scratch if it fails.

    A mirror mid-sync or a dropped download fails a build that succeeds a minute
    later; a second failure is reported with its last lines.
    """
    try:
        run_streaming(command, update, what=f"debootstrap {suite}")
    except DevDbError as first:
        update(f"debootstrap failed ({first.message.splitlines()[0]}); retrying once")
        shutil.rmtree(rootfs, ignore_errors=True)
        run_streaming(command, update, what=f"debootstrap {suite}")


def generate_locales(rootfs: Path) -> None:
    """Compile LOCALES into the root filesystem's locale archive.

    Before pruning: localedef reads /usr/share/i18n, which the image does not keep.
    """
    for name, charmap in LOCALES:
        result = subprocess.run(
            [
                "chroot",
                str(rootfs),
                "localedef",
                "--inputfile",
                name,
                "--charmap",
                charmap,
                # -c: write the locale despite warnings (sid's en_US has some);
                # localedef then exits 1, and only 4 means it wrote nothing.
                "-c",
                "--alias-file",
                "/usr/share/locale/locale.alias",
                f"{name}.{charmap}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode not in (0, 1):
            raise DevDbError(
                f"localedef could not generate {name}.{charmap} "
                f"(exit {result.returncode}): {first_line(result.stderr)}",
                "check that the build's package list still has `locales`",
            )


def renumber_postgres_user(rootfs: Path) -> None:
    """Give the postgres user and group id 999, as the official images do.

    Debian's package picks the next free system id (100 or so). Whatever already
    holds 999 (sid gives it to lpadmin) swaps ids with postgres, and every file
    follows its owner, so the image stays consistent.
    """
    passwd, group = rootfs / "etc/passwd", rootfs / "etc/group"
    uids = _swap_id(passwd, "postgres", POSTGRES_UID)
    gids = _swap_id(group, "postgres", POSTGRES_GID)
    # A user's primary group is the fourth field of its passwd line.
    lines = passwd.read_text().splitlines(keepends=True)
    for index, line in enumerate(lines):
        parts = line.split(":")
        if len(parts) > 3 and parts[3].isdigit() and int(parts[3]) in gids:
            parts[3] = str(gids[int(parts[3])])
            lines[index] = ":".join(parts)
    passwd.write_text("".join(lines))
    if not uids and not gids:
        return
    # os.walk never follows symlinks: an absolute link must not lead to the host.
    for directory, subdirectories, files in os.walk(rootfs):
        for name in [".", *subdirectories, *files]:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            if status.st_uid in uids or status.st_gid in gids:
                os.lchown(
                    path, uids.get(status.st_uid, -1), gids.get(status.st_gid, -1)
                )


def _swap_id(table: Path, name: str, new_id: int) -> dict[int, int]:
    """Give ``name`` ``new_id`` in a passwd/group file, and its old id to whoever
    held ``new_id``; return the mapping of ids that changed (empty: none)."""
    lines = table.read_text().splitlines(keepends=True)
    rows = [line.split(":") for line in lines]
    old_id = next((int(row[2]) for row in rows if row[0] == name), None)
    if old_id is None:
        raise DevDbError(
            f"no '{name}' entry in the root filesystem's {table.name}",
            "the PostgreSQL package creates it: check the build's package list",
        )
    if old_id == new_id:
        return {}
    for row in rows:
        if row[0] == name:
            row[2] = str(new_id)
        elif len(row) > 2 and row[2] == str(new_id):
            row[2] = str(old_id)
    table.write_text("".join(":".join(row) for row in rows))
    return {old_id: new_id, new_id: old_id}


def prune_rootfs(rootfs: Path, pruned_globs: tuple[str, ...] = PRUNED_GLOBS) -> None:
    for relative in PRUNED_PATHS:
        path = rootfs / relative
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
    for pattern in pruned_globs:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def docker_build(
    client: docker.DockerClient,
    context: Path,
    *,
    tag: str,
    buildargs: dict[str, str],
    image_labels: dict[str, str],
    update: Callable[[str], None],
) -> None:
    import docker.errors

    try:
        for event in client.api.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            labels=image_labels,
            rm=True,
            forcerm=True,
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
