"""Fixtures of the image tests: an offline image per TimescaleDB row, a container
helper that removes what it made, and a folder the containers can read."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TIMESCALEDB_IMAGES, ImageContainers

from devdb.images import table as images
from devdb.images.fetch import ensure_image
from devdb.images.table import ImageSpec


@pytest.fixture(params=[spec.id for spec in TIMESCALEDB_IMAGES])
def image(request, docker_client, test_settings) -> tuple[ImageSpec, str]:
    """(row, offline image reference): the offline build, whatever the source."""
    spec = images.image_spec(request.param)
    ref = ensure_image(
        docker_client, spec, "offline", mirror=test_settings.debian_mirror
    )
    return spec, ref


@pytest.fixture
def docker(docker_client, test_settings) -> Iterator[ImageContainers]:
    helper = ImageContainers(docker_client, test_settings)
    yield helper
    helper.cleanup()


@pytest.fixture
def host_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parent is private to root, and the container reads
    # these files as postgres (or another uid).
    directory = Path(tempfile.mkdtemp(prefix="devdb-contract-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)
