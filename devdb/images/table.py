"""The image table: every PostgreSQL/TimescaleDB image the project supports.

Standard library only: nox imports this module from the checkout to build its
matrix, before any virtualenv exists. Getting an image lives in
``devdb.images.fetch`` (pull, or build offline) and ``devdb.images.build`` (the
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


# What `timescaledb.license` says on a row: "timescale" (built from upstream's source
# with tsl/: compression, continuous aggregates, policies), "apache" (Debian's package,
# tsl/ stripped, like the official -oss tags), "none" (no TimescaleDB at all).
LICENCES = ("timescale", "apache", "none")


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
    licence: str
    reference: bool = False  # the image the committed db/schema.sql comes from
    # TimescaleDB versions compiled from source archives into the image, oldest
    # first: the last is the default; the older ones are there so a volume made by
    # an older image can `ALTER EXTENSION timescaledb UPDATE` (installing the newest
    # last keeps its loader and control file, see the vendor README).
    source_versions: tuple[str, ...] = ()

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
        # tsl/ proves what only the full TimescaleDB does; apache/ that asking an
        # Apache-only build for it fails in one clear line naming the licence.
        by_licence = "tsl" if self.licence == "timescale" else "apache"
        dirs: tuple[str, ...] = ("timescaledb", by_licence)
        if len(self.source_versions) > 1:
            # It carries an older version: a volume made by that one moves to it.
            dirs = (*dirs, "extension_update")
        return (*dirs, "reference") if self.reference else dirs


def _from_source(
    image_id: str, suite: str, major: int, *versions: str, reference: bool = False
) -> ImageSpec:
    """A full (TSL) row: Debian's PostgreSQL plus TimescaleDB compiled from source."""
    return ImageSpec(
        id=image_id,
        official=f"timescale/timescaledb:{versions[-1]}-pg{major}",
        suite=suite,
        packages=(f"postgresql-{major}",),
        postgres_major=major,
        timescaledb=versions[-1],
        licence="timescale",
        reference=reference,
        source_versions=versions,
    )


IMAGES: tuple[ImageSpec, ...] = (
    # The reference: db/schema.sql is dumped from it, so its id stays.
    _from_source("pg17-ts2.19", "trixie", 17, "2.19.3", reference=True),
    _from_source("pg17-ts2.29", "trixie", 17, "2.19.3", "2.29.2"),
    _from_source("pg18-ts2.29", "sid", 18, "2.29.2"),
    # 2.29 dropped PostgreSQL 15; 2.19.3 is the last release teams on 15 get.
    _from_source("pg15-ts2.19", "bookworm", 15, "2.19.3"),
    ImageSpec(
        id="pg18-ts2",  # what apt users of Debian run: tsl/ stripped
        official="timescale/timescaledb:latest-pg18-oss",
        suite="sid",
        packages=("postgresql-18", "postgresql-18-timescaledb"),
        postgres_major=18,
        timescaledb="2.",  # sid moves; any TimescaleDB 2.x it ships
        licence="apache",
    ),
    ImageSpec(
        id="pg15-plain",
        official="postgres:15",
        suite="bookworm",
        packages=("postgresql-15",),
        postgres_major=15,
        timescaledb=None,
        licence="none",
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
