"""TimescaleDB source archives: find one for a version, and prove it is that version.

The full TimescaleDB (with ``tsl/``: compression, continuous aggregates, policies) is
compiled from upstream's source, because Debian strips ``tsl/`` from its package. The
``timescaledb_sources`` setting says where archives come from:

- a folder holding ``timescaledb-<version>.tar.xz`` (what machines without internet
  get, e.g. ``../shared/vendor/timescaledb``), or upstream's ``<version>.tar.gz``;
- upstream's tag archive URL, ``https://github.com/timescale/timescaledb/archive/refs/tags``,
  for machines with internet: downloaded once into the project cache.

Before an archive is used its version is checked three ways: the folder's
``SHA256SUMS`` (when there is one), the archive's top folder
``timescaledb-<version>/`` and the ``version = <version>`` line of its
``version.config``; and it must contain ``tsl/``, or the build would be the Apache-only
one this is meant to replace.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devdb.errors import DevDbError

UPSTREAM_TAGS_URL = "https://github.com/timescale/timescaledb/archive/refs/tags"
SETTING_TIP = (
    "set DEVDB_TIMESCALEDB_SOURCES (or timescaledb_sources in devdb.local.toml) to a "
    "folder holding timescaledb-<version>.tar.xz (on these machines: "
    f"../shared/vendor/timescaledb), or to {UPSTREAM_TAGS_URL} with internet"
)


@dataclass(frozen=True)
class SourceArchive:
    version: str
    path: Path
    sha256: str


def archive_names(version: str) -> tuple[str, ...]:
    """File names an archive of ``version`` may have in a sources folder."""
    return (
        f"timescaledb-{version}.tar.xz",
        f"timescaledb-{version}.tar.gz",
        f"{version}.tar.gz",  # upstream's tag archive, saved as downloaded
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output as {file name: checksum} (binary-mode '*' accepted)."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        checksum, _, name = line.strip().partition(" ")
        if checksum and name:
            sums[name.strip().lstrip("*")] = checksum.lower()
    return sums


def check_archive_contents(path: Path, version: str) -> None:
    """The archive's top folder, version.config and tsl/ must say ``version``."""
    top = f"timescaledb-{version}"
    declared: str | None = None
    has_tsl = False
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name.split("/", 1)[0] != top:
                    raise DevDbError(
                        f"{path.name} holds '{name.split('/', 1)[0]}', "
                        f"not TimescaleDB {version} (top folder {top}/)",
                        "put the right release's archive there; upstream's are at "
                        f"{UPSTREAM_TAGS_URL}/{version}.tar.gz",
                    )
                has_tsl = has_tsl or name.startswith(f"{top}/tsl/src/")
                if name == f"{top}/version.config" and member.isfile():
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    declared = version_config_version(extracted.read().decode())
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DevDbError(
            f"{path} is not a readable tar archive: {error}",
            "download it again; a partial download is the usual cause",
        ) from None
    if declared != version:
        raise DevDbError(
            f"{path.name}: version.config says {declared or 'nothing'}, "
            f"expected {version}",
            "put the right release's archive there (the file name alone proves nothing)",
        )
    if not has_tsl:
        raise DevDbError(
            f"{path.name} has no tsl/ folder: an Apache-only (+dfsg) tarball cannot "
            "build the full TimescaleDB",
            f"use upstream's release archive: {UPSTREAM_TAGS_URL}/{version}.tar.gz",
        )


def version_config_version(text: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "version":
            return value.strip()
    return None


def find_archive(sources: str, version: str, *, download_dir: Path) -> SourceArchive:
    """The verified source archive of ``version``, or a DevDbError saying what to do.

    ``sources`` is the setting's value: a folder, or upstream's tag archive URL
    (downloaded into ``download_dir``, which then plays the folder without a
    SHA256SUMS).
    """
    if not sources.strip():
        raise DevDbError(
            f"building TimescaleDB {version} with tsl/ needs its source archive, "
            "and the timescaledb_sources setting is empty",
            SETTING_TIP,
        )
    if sources.startswith(("https://", "http://")):
        path = download(sources.rstrip("/"), version, download_dir)
        folder_sums: dict[str, str] = {}
    else:
        folder = Path(sources).expanduser()
        if not folder.is_dir():
            raise DevDbError(
                f"timescaledb_sources names {folder}, which is not a folder",
                SETTING_TIP,
            )
        candidates = [folder / name for name in archive_names(version)]
        found = [path for path in candidates if path.is_file()]
        if not found:
            raise DevDbError(
                f"no TimescaleDB {version} source archive in {folder} "
                f"(looked for {', '.join(archive_names(version))})",
                f"copy timescaledb-{version}.tar.xz there, or download "
                f"{UPSTREAM_TAGS_URL}/{version}.tar.gz into it",
            )
        path = found[0]
        sums_file = folder / "SHA256SUMS"
        folder_sums = (
            read_sha256sums(sums_file.read_text()) if sums_file.is_file() else {}
        )
        if sums_file.is_file() and path.name not in folder_sums:
            raise DevDbError(
                f"{sums_file} does not list {path.name}, so it cannot be checked",
                f"add its line: `cd {folder} && sha256sum {path.name} >> SHA256SUMS`",
            )
    checksum = sha256_of(path)
    expected = folder_sums.get(path.name)
    if expected is not None and expected != checksum:
        raise DevDbError(
            f"{path} does not match its SHA256SUMS line (got {checksum[:12]}..., "
            f"expected {expected[:12]}...)",
            "the archive is damaged or replaced: copy it again from its source",
        )
    check_archive_contents(path, version)
    return SourceArchive(version, path, checksum)


def download(base_url: str, version: str, download_dir: Path) -> Path:
    """Upstream's tag archive for ``version``, downloaded once into the cache."""
    target = download_dir / f"{version}.tar.gz"
    if target.is_file():
        return target
    download_dir.mkdir(parents=True, exist_ok=True)
    url = f"{base_url}/{version}.tar.gz"
    partial = target.with_suffix(".partial")
    try:
        with (
            urllib.request.urlopen(url, timeout=60) as response,
            partial.open("wb") as handle,
        ):
            shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise DevDbError(
            f"could not download {url}: {reason}",
            "no internet here? Point DEVDB_TIMESCALEDB_SOURCES at a folder of "
            "archives instead (../shared/vendor/timescaledb on these machines)",
        ) from None
    partial.rename(target)
    return target
