"""A full (TSL) image without its source archive: one ERROR, one TIP, nothing built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devdb.settings import PROJECT_ROOT


def test_building_without_the_archive_explains_itself(
    tmp_path: Path, docker_client
) -> None:
    repository = "devdb-test-no-archive/offline"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "invoke"),
            "image.build",
            "--image",
            "pg17-ts2.29",
            "--force",
        ],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DEVDB_TIMESCALEDB_SOURCES": str(tmp_path),  # a folder without archives
            "DEVDB_OFFLINE_REPOSITORY": repository,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    print(output)
    lines = output.splitlines()

    assert result.returncode == 1
    assert len(lines) == 2, output
    assert lines[0].startswith("ERROR: no TimescaleDB 2.19.3 source archive in ")
    assert lines[1].startswith("TIP: ")
    assert "Traceback" not in output
    assert not docker_client.images.list(name=repository), "never an Apache fallback"


def test_the_pinned_digests_are_the_archives_the_images_build_from(
    tmp_path: Path,
) -> None:
    """A download is checked against PINNED_CONTENT; the pins must be the releases.

    Whatever the sources setting is here (a folder with SHA256SUMS, or upstream's
    URL), the archive found for each pinned version has exactly the pinned tree.
    """
    from devdb.images.sources import (
        PINNED_CONTENT,
        check_archive_contents,
        find_archive,
    )
    from devdb.images.table import IMAGES
    from devdb.settings import load_settings

    settings = load_settings()
    built = {version for spec in IMAGES for version in spec.source_versions}
    assert built <= set(PINNED_CONTENT), "every version the table builds is pinned"
    for version, pinned in PINNED_CONTENT.items():
        archive = find_archive(
            settings.timescaledb_sources_location(), version, download_dir=tmp_path
        )
        assert check_archive_contents(archive.path, version) == pinned, version
