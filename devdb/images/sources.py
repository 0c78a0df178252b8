"""TimescaleDB source archives: find one for a version, and prove it is that version.

The full TimescaleDB (with ``tsl/``: compression, continuous aggregates, policies) is
compiled from upstream's source, because Debian strips ``tsl/`` from its package. The
``timescaledb_sources`` setting says where archives come from:

- a folder holding ``timescaledb-<version>.tar.xz`` (what machines without internet
  get, e.g. ``../shared/vendor/timescaledb``), or upstream's ``<version>.tar.gz``;
- upstream's tag archive URL, ``https://github.com/timescale/timescaledb/archive/refs/tags``
  (the default, so a machine with internet needs no setting): downloaded once into
  the project cache, over ``https://`` only.

Before an archive is used its version is checked three ways: the folder's
``SHA256SUMS`` (when there is one), the archive's top folder
``timescaledb-<version>/`` and the ``version = <version>`` line of its
``version.config``; and it must contain ``tsl/``, or the build would be the Apache-only
one this is meant to replace. A download has no SHA256SUMS beside it, and GitHub's
gzip bytes are not ours to pin, so it is checked against ``PINNED_CONTENT``: a digest
of every file's path and content, the same for the ``.tar.gz`` upstream serves and
the ``.tar.xz`` of the same tag (both are ``git archive`` of one commit).
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
from devdb.settings import TIMESCALEDB_RELEASES_URL as UPSTREAM_TAGS_URL

# content_digest() of each release the image table builds, taken from the tag's
# `git archive` (commit in the comment). A new version gets its line here, or is
# built from a folder whose SHA256SUMS lists it.
PINNED_CONTENT = {
    # 2.19.3, commit 95861e123bd439ed3c04dc5eeb86fef841bdf93b
    "2.19.3": "fbfc7bc3f558bcbd98a5470a4dbc03de51b6df13604be500a408a1d35e58c8f6",
    # 2.29.2, commit 165b77b9670b8f13103f9d3da733559d27ca4293
    "2.29.2": "c30952299bdb32bdc320e69e116ad96384641178c5392817b86693bb4d4a309b",
}
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


def check_archive_contents(path: Path, version: str) -> str:
    """The archive's top folder, version.config and tsl/ must say ``version``.

    Returns the archive's content digest (see ``content_digest``).
    """
    top = f"timescaledb-{version}"
    declared: str | None = None
    has_tsl = False
    entries: list[tuple[str, str]] = []
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
                if member.issym():
                    entries.append((name, f"-> {member.linkname}"))
                if not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                assert extracted is not None
                data = extracted.read()
                entries.append((name, hashlib.sha256(data).hexdigest()))
                if name == f"{top}/version.config":
                    declared = version_config_version(data.decode())
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
    return content_digest(entries)


def content_digest(entries: list[tuple[str, str]]) -> str:
    """One SHA-256 over (path, file SHA-256) pairs: the tree, whatever compressed it."""
    digest = hashlib.sha256()
    for name, file_digest in sorted(entries):
        digest.update(f"{name}\0{file_digest}\n".encode())
    return digest.hexdigest()


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
    downloaded = "://" in sources
    if downloaded:
        if not sources.startswith("https://"):
            raise DevDbError(
                f"timescaledb_sources must be an https:// URL or a folder, not "
                f"{sources.split('://', 1)[0]}://: anyone on the path could swap the archive",
                f"use {UPSTREAM_TAGS_URL}, or a folder of archives with a SHA256SUMS",
            )
        if version not in PINNED_CONTENT:
            raise DevDbError(
                f"TimescaleDB {version} has no pinned digest, so a download of it "
                "could not be checked",
                "put its archive in a folder with a SHA256SUMS line and point "
                "DEVDB_TIMESCALEDB_SOURCES there, or pin it in PINNED_CONTENT "
                "(devdb/images/sources.py)",
            )
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
    contents = check_archive_contents(path, version)
    if downloaded and contents != PINNED_CONTENT[version]:
        path.unlink(missing_ok=True)  # never reused from the cache
        raise DevDbError(
            f"the download of TimescaleDB {version} is not the release's tree "
            f"(content digest {contents[:12]}..., pinned {PINNED_CONTENT[version][:12]}...)",
            "download again later; if it persists, use a folder of archives checked "
            "against its SHA256SUMS",
        )
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
