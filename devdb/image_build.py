"""The offline build: a Debian root filesystem plus a FROM scratch Dockerfile.

Offline builds need no registry at all: debootstrap fetches Debian's own PostgreSQL
and TimescaleDB packages into a root filesystem, and ``db/image/Dockerfile`` (FROM
scratch) adds it with an entrypoint that honours the official image's contract. They
carry their own name, never the official one, and labels with their real versions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import progress
from devdb.errors import DevDbError, first_line
from devdb.images import ImageSpec
from devdb.settings import PROJECT_ROOT

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
    result = {
        labels.PROJECT: labels.PROJECT_NAME,
        labels.IMAGE_ID: spec.id,
        labels.POSTGRES_VERSION: postgres,
        labels.TIMESCALEDB_VERSION: (
            upstream_version(versions[timescaledb_package])
            if timescaledb_package in versions
            else "none"
        ),
        labels.DEBIAN_SUITE: spec.suite,
        "org.opencontainers.image.title": f"stock-tracker offline {spec.id}",
        "org.opencontainers.image.description": (
            f"PostgreSQL {postgres} from Debian {spec.suite}, built offline "
            "with debootstrap; not the official image"
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


def build_offline(client: docker.DockerClient, spec: ImageSpec, *, mirror: str) -> str:
    """Build ``spec.offline`` from Debian packages; return its reference."""
    debootstrap = require_build_tools()
    with tempfile.TemporaryDirectory(
        prefix=f"devdb-{spec.id}-", dir="/var/tmp"
    ) as work:
        context = Path(work)
        rootfs = context / "rootfs"
        command = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join((*spec.packages, *RUNTIME_PACKAGES))}",
            spec.suite,
            str(rootfs),
            mirror,
        ]
        with progress(
            f"Building root filesystem for {spec.id} (Debian {spec.suite})"
        ) as update:
            debootstrap_with_one_retry(command, rootfs, update, spec.suite)
        versions = dpkg_versions((rootfs / "var/lib/dpkg/status").read_text())
        generate_locales(rootfs)
        renumber_postgres_user(rootfs)
        prune_rootfs(rootfs)
        (rootfs / "docker-entrypoint-initdb.d").mkdir(exist_ok=True)
        with progress(f"Building image {spec.offline}") as update:
            run_streaming(
                [
                    "tar",
                    "-C",
                    str(rootfs),
                    "--numeric-owner",
                    "-cf",
                    str(context / "rootfs.tar"),
                    ".",
                ],
                update,
                what="tar",
            )
            shutil.rmtree(rootfs)
            for name in ("Dockerfile", "docker-entrypoint.sh"):
                shutil.copy2(IMAGE_CONTEXT_DIR / name, context / name)
            docker_build(client, context, spec, image_labels(spec, versions), update)
    return spec.offline


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


def prune_rootfs(rootfs: Path) -> None:
    for relative in PRUNED_PATHS:
        path = rootfs / relative
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
    for pattern in PRUNED_GLOBS:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def docker_build(
    client: docker.DockerClient,
    context: Path,
    spec: ImageSpec,
    image_labels: dict[str, str],
    update: Callable[[str], None],
) -> None:
    import docker.errors

    try:
        for event in client.api.build(
            path=str(context),
            tag=spec.offline,
            buildargs={
                "PG_MAJOR": str(spec.postgres_major),
                "PGDATA_DIR": spec.pgdata,
                "VOLUME_DIR": spec.volume_path,
            },
            labels=image_labels,
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in event:
                raise DevDbError(
                    f"docker build of {spec.offline} failed: {event['error'].strip()}",
                    "read the build output above; `invoke image.build --force` retries",
                )
            line = event.get("stream", "").strip()
            if line:
                update(line)
    except docker.errors.APIError as error:
        raise DevDbError(
            f"docker build of {spec.offline} failed: {first_line(str(error))}",
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
