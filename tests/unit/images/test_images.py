"""The image table and the pure parts of the offline build."""

from __future__ import annotations

import pytest

from devdb import labels
from devdb.errors import DevDbError
from devdb.images import build as image_build
from devdb.images import rootfs
from devdb.images import table as images

DPKG_STATUS = """\
Package: postgresql-17
Status: install ok installed
Version: 17.12-0+deb13u1

Package: postgresql-17-timescaledb
Status: install ok installed
Version: 2.19.3+dfsg-1

Package: half-removed
Status: deinstall ok config-files
Version: 1.0-1
"""


def test_dpkg_versions_reads_installed_packages_only() -> None:
    assert rootfs.dpkg_versions(DPKG_STATUS) == {
        "postgresql-17": "17.12-0+deb13u1",
        "postgresql-17-timescaledb": "2.19.3+dfsg-1",
    }


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("2.19.3+dfsg-1", "2.19.3"),
        ("17.12-0+deb13u1", "17.12"),
        ("1:2.0-3", "2.0"),
        ("18.1", "18.1"),
        ("2.31.0~rc1-1", "2.31.0"),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert rootfs.upstream_version(debian) == upstream


def test_labels_carry_the_real_versions() -> None:
    spec = images.image_spec("pg17-ts2.19")
    result = image_build.image_labels(spec, rootfs.dpkg_versions(DPKG_STATUS))
    assert result[labels.POSTGRES_VERSION] == "17.12"
    assert result[labels.TIMESCALEDB_VERSION] == "2.19.3"
    assert "not the official image" in result["org.opencontainers.image.description"]


def test_plain_postgres_is_labelled_without_timescaledb() -> None:
    spec = images.image_spec("pg15-plain")
    result = image_build.image_labels(spec, {"postgresql-15": "15.14-0+deb12u1"})
    assert result[labels.TIMESCALEDB_VERSION] == "none"


def test_table_has_unique_ids_one_reference_and_own_offline_names() -> None:
    ids = [spec.id for spec in images.IMAGES]
    assert len(ids) == len(set(ids))
    assert [spec.id for spec in images.IMAGES if spec.reference] == ["pg17-ts2.19"]
    for spec in images.IMAGES:
        assert spec.offline != spec.official
        assert spec.offline.startswith(images.OFFLINE_REPOSITORY + ":")
        assert f"postgresql-{spec.postgres_major}" in spec.packages
        has_timescaledb_package = any("timescaledb" in p for p in spec.packages)
        # TimescaleDB comes from Debian (Apache) or from source (TSL), never both.
        assert has_timescaledb_package != bool(spec.source_versions) or (
            spec.timescaledb is None and not spec.source_versions
        )
        assert (has_timescaledb_package or bool(spec.source_versions)) == (
            spec.timescaledb is not None
        )
        assert spec.licence in images.LICENCES


def test_the_matrix_rows_and_their_licences() -> None:
    rows = {
        spec.id: (spec.postgres_major, spec.licence, spec.suite, spec.official)
        for spec in images.IMAGES
    }
    assert rows == {
        "pg17-ts2.19": (17, "timescale", "trixie", "timescale/timescaledb:2.19.3-pg17"),
        "pg17-ts2.29": (17, "timescale", "trixie", "timescale/timescaledb:2.29.2-pg17"),
        "pg18-ts2.29": (18, "timescale", "sid", "timescale/timescaledb:2.29.2-pg18"),
        "pg15-ts2.19": (
            15,
            "timescale",
            "bookworm",
            "timescale/timescaledb:2.19.3-pg15",
        ),
        "pg18-ts2": (18, "apache", "sid", "timescale/timescaledb:latest-pg18-oss"),
        "pg15-plain": (15, "none", "bookworm", "postgres:15"),
    }


def test_source_rows_install_the_newest_version_last() -> None:
    for spec in images.IMAGES:
        if spec.source_versions:
            assert spec.timescaledb == spec.source_versions[-1]
            as_numbers = [
                tuple(int(part) for part in version.split("."))
                for version in spec.source_versions
            ]
            assert as_numbers == sorted(as_numbers), spec.id
    assert images.image_spec("pg17-ts2.29").source_versions == ("2.19.3", "2.29.2")


def test_each_licence_gets_its_own_proofs() -> None:
    dirs = {spec.id: spec.matrix_test_dirs for spec in images.IMAGES}
    assert dirs["pg17-ts2.19"] == ("timescaledb", "tsl", "reference")
    assert dirs["pg18-ts2.29"] == ("timescaledb", "tsl")
    assert dirs["pg17-ts2.29"] == ("timescaledb", "tsl", "extension_update")
    assert dirs["pg18-ts2"] == ("timescaledb", "apache")
    assert dirs["pg15-plain"] == ("plain",)


def test_source_build_labels_name_the_source_versions() -> None:
    spec = images.image_spec("pg17-ts2.29")
    result = image_build.image_labels(spec, {"postgresql-17": "17.12-0+deb13u1"})
    assert result[labels.TIMESCALEDB_VERSION] == "2.29.2"
    assert result[labels.TIMESCALEDB_VERSIONS] == "2.19.3 2.29.2"
    assert result[labels.TIMESCALEDB_LICENSE] == "timescale"
    assert "compiled from source" in result["org.opencontainers.image.description"]


def test_postgres_18_keeps_data_under_a_version_directory() -> None:
    pg18 = images.image_spec("pg18-ts2")
    assert pg18.pgdata == "/var/lib/postgresql/18/docker"
    assert pg18.volume_path == "/var/lib/postgresql"
    pg17 = images.image_spec("pg17-ts2.19")
    assert pg17.pgdata == pg17.volume_path == "/var/lib/postgresql/data"


def test_unknown_image_names_the_known_ones() -> None:
    with pytest.raises(DevDbError) as raised:
        images.image_spec("pg99")
    assert "pg17-ts2.19" in raised.value.tip


def test_ref_by_source() -> None:
    spec = images.reference_image()
    assert spec.ref("official") == "timescale/timescaledb:2.19.3-pg17"
    assert spec.ref("offline") == f"{images.OFFLINE_REPOSITORY}:pg17-ts2.19"


def test_debootstrap_is_retried_once_from_scratch(tmp_path) -> None:
    target = tmp_path / "rootfs"
    marker = tmp_path / "failed-once"
    # Fails the first time (leaving a half-built rootfs), succeeds the second.
    command = [
        "sh",
        "-c",
        f"mkdir -p {target}/half; if [ -e {marker} ]; then test ! -e {target}/half/x; "
        f"else touch {marker} {target}/half/x; exit 1; fi",
    ]
    lines: list[str] = []
    rootfs.debootstrap_with_one_retry(command, target, lines.append, "trixie")
    assert any("retrying once" in line for line in lines)


def test_debootstrap_failing_twice_reports_its_last_lines(tmp_path) -> None:
    command = ["sh", "-c", "echo 'E: Could not download packages'; exit 1"]
    with pytest.raises(DevDbError) as raised:
        rootfs.debootstrap_with_one_retry(
            command, tmp_path / "r", lambda _: None, "sid"
        )
    assert "debootstrap sid failed" in raised.value.message
    assert "Could not download packages" in raised.value.message
