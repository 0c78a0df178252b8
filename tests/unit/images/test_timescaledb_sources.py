"""Finding and verifying TimescaleDB source archives, and merging compiled versions."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.images import timescaledb as timescaledb_build
from devdb.images.sources import (
    PINNED_CONTENT,
    UPSTREAM_TAGS_URL,
    check_archive_contents,
    content_digest,
    find_archive,
    read_sha256sums,
)
from devdb.settings import load_settings


def make_archive(
    folder: Path,
    name: str,
    *,
    top: str,
    version: str,
    with_tsl: bool = True,
) -> Path:
    """A small stand-in for upstream's archive: the files the checks look at."""
    path = folder / name
    files = {f"{top}/version.config": f"version = {version}\nupdate_from_version = x\n"}
    if with_tsl:
        files[f"{top}/tsl/src/bgw_policy/job.c"] = "/* job */\n"
    with tarfile.open(path, "w:xz" if name.endswith(".xz") else "w:gz") as archive:
        for member_name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_sums(folder: Path, *paths: Path) -> None:
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}"
        for path in paths
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_a_verified_archive_is_found(tmp_path: Path) -> None:
    path = make_archive(
        tmp_path,
        "timescaledb-2.19.3.tar.xz",
        top="timescaledb-2.19.3",
        version="2.19.3",
    )
    write_sums(tmp_path, path)
    found = find_archive(str(tmp_path), "2.19.3", download_dir=tmp_path / "dl")
    assert found.path == path
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_upstreams_tag_archive_name_is_accepted_without_sha256sums(
    tmp_path: Path,
) -> None:
    make_archive(tmp_path, "2.29.2.tar.gz", top="timescaledb-2.29.2", version="2.29.2")
    found = find_archive(str(tmp_path), "2.29.2", download_dir=tmp_path / "dl")
    assert found.path.name == "2.29.2.tar.gz"


def test_an_empty_setting_is_an_error_with_a_tip(tmp_path: Path) -> None:
    with pytest.raises(DevDbError) as raised:
        find_archive("", "2.29.2", download_dir=tmp_path)
    assert "2.29.2" in raised.value.message
    assert "DEVDB_TIMESCALEDB_SOURCES" in raised.value.tip
    assert "\n" not in raised.value.render().split("\n", 1)[1], "one TIP line"


def test_a_missing_archive_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.29.2", download_dir=tmp_path / "dl")
    assert "timescaledb-2.29.2.tar.xz" in raised.value.message
    assert "github.com/timescale/timescaledb" in raised.value.tip


def test_a_renamed_archive_is_caught_by_its_contents(tmp_path: Path) -> None:
    # The 2.19.3 release under 2.29.2's name: the file name alone proves nothing.
    make_archive(
        tmp_path,
        "timescaledb-2.29.2.tar.xz",
        top="timescaledb-2.19.3",
        version="2.19.3",
    )
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.29.2", download_dir=tmp_path / "dl")
    assert "timescaledb-2.19.3" in raised.value.message


def test_version_config_must_agree(tmp_path: Path) -> None:
    make_archive(
        tmp_path,
        "timescaledb-2.29.2.tar.xz",
        top="timescaledb-2.29.2",
        version="2.29.1",
    )
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.29.2", download_dir=tmp_path / "dl")
    assert "version.config says 2.29.1" in raised.value.message


def test_an_apache_only_tarball_is_refused(tmp_path: Path) -> None:
    make_archive(
        tmp_path,
        "timescaledb-2.19.3.tar.xz",
        top="timescaledb-2.19.3",
        version="2.19.3",
        with_tsl=False,
    )
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.19.3", download_dir=tmp_path / "dl")
    assert "no tsl/" in raised.value.message


def test_a_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    path = make_archive(
        tmp_path,
        "timescaledb-2.19.3.tar.xz",
        top="timescaledb-2.19.3",
        version="2.19.3",
    )
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  {path.name}\n")
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.19.3", download_dir=tmp_path / "dl")
    assert "SHA256SUMS" in raised.value.message


def test_an_archive_missing_from_sha256sums_is_refused(tmp_path: Path) -> None:
    make_archive(
        tmp_path,
        "timescaledb-2.19.3.tar.xz",
        top="timescaledb-2.19.3",
        version="2.19.3",
    )
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(DevDbError) as raised:
        find_archive(str(tmp_path), "2.19.3", download_dir=tmp_path / "dl")
    assert "does not list" in raised.value.message


def test_sha256sums_binary_mode_lines() -> None:
    assert read_sha256sums("abc *a.tar.xz\ndef  b.tar.gz\n") == {
        "a.tar.xz": "abc",
        "b.tar.gz": "def",
    }


def tarball(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_merged_layers_keep_the_newest_versions_shared_files(tmp_path: Path) -> None:
    older = tarball(
        tmp_path / "old.tar",
        {"ext/timescaledb.control": "2.19.3", "lib/timescaledb-2.19.3.so": "old"},
    )
    newer = tarball(
        tmp_path / "new.tar",
        {"ext/timescaledb.control": "2.29.2", "lib/timescaledb-2.29.2.so": "new"},
    )
    timescaledb_build.merge_layers([older, newer], tmp_path / "merged.tar")
    with tarfile.open(tmp_path / "merged.tar") as merged:
        names = merged.getnames()
        control = merged.extractfile("ext/timescaledb.control")
        assert control is not None
        assert control.read() == b"2.29.2"
    assert sorted(names) == [
        "ext/timescaledb.control",
        "lib/timescaledb-2.19.3.so",
        "lib/timescaledb-2.29.2.so",
    ]


def test_rows_without_a_source_build_get_a_placeholder_archive(tmp_path: Path) -> None:
    timescaledb_build.merge_layers([], tmp_path / "empty.tar")
    with tarfile.open(tmp_path / "empty.tar") as merged:
        [note] = merged.getmembers()
        assert note.isfile() and note.size > 0  # a real change: a layer of its own


def test_a_relative_sources_folder_is_relative_to_the_project(tmp_path: Path) -> None:
    environ = {"DEVDB_TIMESCALEDB_SOURCES": "../shared/vendor/timescaledb"}
    settings = load_settings(environ, project_root=tmp_path / "repo")
    assert settings.timescaledb_sources_location() == str(
        (tmp_path / "shared" / "vendor" / "timescaledb").resolve()
    )
    url = "https://github.com/timescale/timescaledb/archive/refs/tags"
    upstream = load_settings({"DEVDB_TIMESCALEDB_SOURCES": url}, project_root=tmp_path)
    assert upstream.timescaledb_sources_location() == url


def test_the_build_cache_defaults_to_the_checkout(tmp_path: Path) -> None:
    assert load_settings({}, project_root=tmp_path).cache_dir == (
        tmp_path / ".cache" / "devdb"
    )
    elsewhere = load_settings({"DEVDB_BUILD_CACHE": str(tmp_path / "c")})
    assert elsewhere.cache_dir == (tmp_path / "c").resolve()


# --- upstream's release archives, the default ------------------------------------


def test_the_default_is_upstreams_release_archives(tmp_path: Path) -> None:
    settings = load_settings({}, project_root=tmp_path)
    assert settings.timescaledb_sources_location() == UPSTREAM_TAGS_URL
    assert UPSTREAM_TAGS_URL.startswith("https://")


def test_a_plain_http_source_is_refused_before_any_download(tmp_path: Path) -> None:
    with pytest.raises(DevDbError) as raised:
        find_archive(
            "http://github.com/timescale/timescaledb/archive/refs/tags",
            "2.19.3",
            download_dir=tmp_path / "dl",
        )
    assert "https://" in raised.value.message
    assert not (tmp_path / "dl").exists()


def test_a_download_of_a_version_without_a_pinned_digest_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(DevDbError) as raised:
        find_archive(UPSTREAM_TAGS_URL, "2.99.0", download_dir=tmp_path / "dl")
    assert "no pinned digest" in raised.value.message
    assert "SHA256SUMS" in raised.value.tip


def serve_download(monkeypatch: pytest.MonkeyPatch, archive: Path) -> None:
    """Stand in for GitHub: 'download' hands back ``archive`` as fetched."""

    def fetched(base_url: str, version: str, download_dir: Path) -> Path:
        download_dir.mkdir(parents=True, exist_ok=True)
        target = download_dir / f"{version}.tar.gz"
        target.write_bytes(archive.read_bytes())
        return target

    monkeypatch.setattr("devdb.images.sources.download", fetched)


def test_a_download_whose_tree_differs_from_the_pin_is_refused_and_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Right name, right version.config, tsl/ present: only the pinned digest can tell.
    forged = make_archive(
        tmp_path, "forged.tar.gz", top="timescaledb-2.19.3", version="2.19.3"
    )
    serve_download(monkeypatch, forged)
    with pytest.raises(DevDbError) as raised:
        find_archive(UPSTREAM_TAGS_URL, "2.19.3", download_dir=tmp_path / "dl")
    assert "not the release's tree" in raised.value.message
    assert not (tmp_path / "dl" / "2.19.3.tar.gz").exists(), "never reused"


def test_a_download_matching_its_pin_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(
        tmp_path, "real.tar.gz", top="timescaledb-2.19.3", version="2.19.3"
    )
    with tarfile.open(archive) as opened:
        entries = [
            (m.name, hashlib.sha256(opened.extractfile(m).read()).hexdigest())  # type: ignore[union-attr]
            for m in opened
            if m.isfile()
        ]
    monkeypatch.setitem(PINNED_CONTENT, "2.19.3", content_digest(entries))
    serve_download(monkeypatch, archive)
    found = find_archive(UPSTREAM_TAGS_URL, "2.19.3", download_dir=tmp_path / "dl")
    assert found.path == tmp_path / "dl" / "2.19.3.tar.gz"


def test_the_digest_ignores_how_the_tree_was_packed(tmp_path: Path) -> None:
    as_xz = make_archive(tmp_path, "a.tar.xz", top="timescaledb-1.0.0", version="1.0.0")
    as_gz = make_archive(tmp_path, "a.tar.gz", top="timescaledb-1.0.0", version="1.0.0")
    assert as_xz.read_bytes() != as_gz.read_bytes()
    digests = {check_archive_contents(path, "1.0.0") for path in (as_xz, as_gz)}
    assert len(digests) == 1
