"""The image table: every PostgreSQL/TimescaleDB image the project supports.

Standard library only: nox imports this module from the checkout to build its
matrix, before any virtualenv exists. Getting an image lives in
``devdb.image_fetch`` (pull, or build offline) and ``devdb.image_build`` (the
offline build itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from devdb.errors import DevDbError

# Offline builds are named <repository>:<row id>, never the official name.
# DEVDB_OFFLINE_REPOSITORY gives a second checkout (a branch under test, a helper
# script) images of its own, so its builds never replace the dev database's.
OFFLINE_REPOSITORY = os.environ.get(
    "DEVDB_OFFLINE_REPOSITORY", "stock-tracker-devdb/offline"
)


@dataclass(frozen=True)
class ImageSpec:
    """One row of the matrix: an image the project supports."""

    id: str
    official: str  # reference for machines with a registry
    suite: str  # Debian suite the offline build comes from
    packages: tuple[str, ...]  # what debootstrap installs
    postgres_major: int
    # Expected TimescaleDB version, matched as a prefix ("2.19" matches 2.19.3);
    # None: plain PostgreSQL, no TimescaleDB expected (the error-path image).
    timescaledb: str | None
    reference: bool = False  # the image the committed db/schema.sql comes from

    @property
    def offline(self) -> str:
        return f"{OFFLINE_REPOSITORY}:{self.id}"

    @property
    def pgdata(self) -> str:
        # PostgreSQL 18 images keep a version directory under /var/lib/postgresql and
        # refuse the old .../data layout (docker-library/postgres#1259).
        if self.postgres_major >= 18:
            return f"/var/lib/postgresql/{self.postgres_major}/docker"
        return "/var/lib/postgresql/data"

    @property
    def volume_path(self) -> str:
        return "/var/lib/postgresql" if self.postgres_major >= 18 else self.pgdata

    def ref(self, source: str) -> str:
        """The reference ``image_source`` builds or pulls for this row."""
        return self.official if source == "official" else self.offline

    def accepted_refs(self, source: str) -> tuple[str, ...]:
        """The references ``image_source`` accepts as this row, preferred first.

        ``auto`` takes whichever build is present (the official image first);
        the other sources take exactly one.
        """
        if source == "auto":
            return (self.official, self.offline)
        return (self.ref(source),)

    @property
    def matrix_test_dirs(self) -> tuple[str, ...]:
        """The tests/matrix directories that apply to this row (none is skipped)."""
        if self.timescaledb is None:
            return ("plain",)  # proves the clear error instead of a schema
        return ("timescaledb", "reference") if self.reference else ("timescaledb",)


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec(
        id="pg17-ts2.19",
        official="timescale/timescaledb:2.19.3-pg17",
        suite="trixie",
        packages=("postgresql-17", "postgresql-17-timescaledb"),
        postgres_major=17,
        timescaledb="2.19",
        reference=True,
    ),
    ImageSpec(
        id="pg18-ts2",
        official="timescale/timescaledb:latest-pg18",
        suite="sid",
        packages=("postgresql-18", "postgresql-18-timescaledb"),
        postgres_major=18,
        timescaledb="2.",  # sid moves; any TimescaleDB 2.x it ships
    ),
    ImageSpec(
        id="pg15-plain",
        official="postgres:15",
        suite="bookworm",
        packages=("postgresql-15",),
        postgres_major=15,
        timescaledb=None,
    ),
)


def image_spec(image_id: str) -> ImageSpec:
    for spec in IMAGES:
        if spec.id == image_id:
            return spec
    raise DevDbError(
        f"unknown image '{image_id}'",
        f"pick one of: {', '.join(spec.id for spec in IMAGES)}",
    )


def reference_image() -> ImageSpec:
    return next(spec for spec in IMAGES if spec.reference)
