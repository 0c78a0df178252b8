"""image.*: the TimescaleDB images the dev database and the matrix run on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task

from tasks._support import reports_errors, settings

if TYPE_CHECKING:
    from devdb.images.table import ImageSpec


@task(
    help={
        "image": "Image id from `invoke image.list` (default: the configured one); 'all' builds every row.",
        "force": "Rebuild even when the image exists.",
    }
)
@reports_errors
def build(c: Context, image: str = "", force: bool = False) -> None:
    """Build an offline image: Debian packages, TimescaleDB with tsl/ from source."""
    from devdb.containers import engine as containers
    from devdb.images import fetch as image_fetch
    from devdb.images import table as images

    chosen = settings()
    client = containers.docker_client()
    specs = (
        images.IMAGES if image == "all" else (images.image_spec(image or chosen.image),)
    )
    for spec in specs:
        image_fetch.build(client, spec, force=force, mirror=chosen.debian_mirror)


@task(default=True)
@reports_errors
def list(
    c: Context,
) -> None:  # `invoke image.list` reads best; shadows nothing used here
    """Show the image table and which images are present here."""
    from rich.console import Console
    from rich.table import Table

    from devdb.containers import engine as containers
    from devdb.images import table as images
    from devdb.images.fetch import image_exists

    client = containers.docker_client()
    table = Table(caption=f"Offline builds are named {images.OFFLINE_REPOSITORY}:<id>.")
    table.add_column("id", no_wrap=True)
    table.add_column("PG")
    table.add_column("TimescaleDB")
    table.add_column("licence")
    table.add_column("Debian")
    table.add_column("official image", no_wrap=True)
    table.add_column("here")
    for spec in images.IMAGES:
        present = [
            kind
            for kind, ref in (("official", spec.official), ("offline", spec.offline))
            if image_exists(client, ref)
        ]
        table.add_row(
            spec.id + (" *" if spec.reference else ""),
            str(spec.postgres_major),
            timescaledb_column(spec),
            spec.licence,
            spec.suite,
            spec.official,
            ", ".join(present) or "-",
        )
    # Piped or in CI there is no terminal width to respect: keep rows on one line.
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(table)
    console.print("* the reference image: db/schema.sql is dumped from it")


def timescaledb_column(spec: ImageSpec) -> str:
    if spec.source_versions:
        return " + ".join(spec.source_versions)  # older ones: for extension updates
    if spec.timescaledb:
        return f"{spec.timescaledb.rstrip('.')}.x (Debian)"
    return "none"
