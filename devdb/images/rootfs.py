"""Root filesystems from Debian's archive: debootstrap, the official image's
locale and ids, pruning, and a cache per suite and package list."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.console import progress
from devdb.errors import DevDbError, first_line
from devdb.images.steps import quietly, run_streaming, short_hash

if TYPE_CHECKING:
    pass


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
