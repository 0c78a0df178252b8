"""`db.status`: container, server versions, revisions and hypertables, in one look."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devdb import labels
from devdb.containers import engine as containers
from devdb.containers.dev import dev_container
from devdb.database import connect
from devdb.errors import DevDbError, Problem
from devdb.schema import migrations, revisions
from devdb.schema.collisions import collision_problems, read_revision_files
from devdb.schema.journal import foreign_revisions, read_journal

if TYPE_CHECKING:
    from devdb.settings import Settings


@dataclass
class Status:
    """What `db.status` shows; ``problems`` are what `--check` fails on."""

    url: str
    container: str = "-"
    container_state: str = "-"
    image: str = "-"
    port: str = "-"
    reachable: bool = False
    unreachable_reason: str = ""
    postgres_version: str = "-"
    timescaledb_version: str = "-"
    current: tuple[str, ...] = ()
    unknown_revisions: tuple[str, ...] = ()
    pending: list[str] = field(default_factory=list)
    hypertables: list[str] = field(default_factory=list)
    head: tuple[str, ...] = ()
    extension_behind: str = ""  # the server's default TimescaleDB, when newer
    # Revision files that collide (one id twice, several heads, a missing parent):
    # nothing else about revisions can be told until they are fixed.
    collisions: list[Problem] = field(default_factory=list)
    # Applied revisions whose file here differs or is missing (a branch switch,
    # a rebase): the dev database holds another branch's history.
    foreign: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found: list[str] = [problem.message for problem in self.collisions]
        if not self.reachable:
            found.append(f"the database does not answer: {self.unreachable_reason}")
            return found
        if self.foreign:
            found.append(
                "the dev database holds another branch's revisions: "
                + "; ".join(self.foreign)
                + " (`invoke db.upgrade` moves it to this branch's head)"
            )
        if self.unknown_revisions:
            found.append(
                "the database is at revision "
                + ", ".join(self.unknown_revisions)
                + ", which no migration file here knows"
            )
        unapplied = sorted(set(self.head) - set(self.current))
        if unapplied and not self.pending:
            found.append(f"head revision(s) not applied: {', '.join(unapplied)}")
        if self.extension_behind:
            found.append(
                f"the timescaledb extension is older than the image's "
                f"{self.extension_behind} (`invoke db.update-extension`)"
            )
        if self.pending:
            found.append(
                f"{len(self.pending)} revision(s) pending: {', '.join(self.pending)}"
            )
        return found


def status(settings: Settings) -> Status:
    """Container, server versions, revisions and hypertables, in one look."""
    if settings.exact_target:
        report = Status(url=settings.safe_url(), container="not managed (DATABASE_URL)")
        target = settings
    else:
        target = settings
        report = Status(url=settings.safe_url(), container=settings.container_name)
        try:
            client = containers.docker_client()
            container = dev_container(client, settings)
        except DevDbError as error:
            report.container_state = f"unknown ({error.message})"
            container = None
        else:
            if container is None:
                report.container_state = "absent"
        if container is not None:
            report.container_state = container.status
            report.image = container.labels.get(
                labels.IMAGE_REF, container.attrs["Config"].get("Image", "?")
            )
            running = container.status == "running"
            port = containers.published_port(container) if running else None
            if port:
                target = settings.with_port(port)
                report.port = f"{settings.engine_address}:{port}"
            report.url = target.safe_url()
    collisions = collision_problems(
        read_revision_files(settings.script_location / "versions")
    )
    report.collisions = collisions
    if not collisions:
        report.head = tuple(revisions.heads(settings.script_location))
    if not settings.exact_target and report.container_state != "running":
        report.unreachable_reason = f"the dev container is {report.container_state}"
        return report
    try:
        fill_from_server(target, report)
    except DevDbError as error:
        report.reachable = False
        report.unreachable_reason = error.message
    return report


def fill_from_server(settings: Settings, report: Status) -> None:
    from sqlalchemy import text  # lazy: see devdb.database.connect

    with connect(settings) as connection:
        report.reachable = True
        report.postgres_version = (
            connection.execute(text("SHOW server_version")).scalar_one().split()[0]
        )
        timescaledb = connection.execute(
            text(
                "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
                "       (SELECT default_version FROM pg_available_extensions"
                "         WHERE name = 'timescaledb')"
            )
        ).one()
        installed, available = timescaledb
        if installed:
            report.timescaledb_version = installed
            if available and available != installed:
                # The image moved on and the volume was kept: the server loads the
                # new library only once the extension is updated in the database.
                report.extension_behind = available
                report.timescaledb_version = (
                    f"{installed} (the image has {available}: "
                    "`invoke db.update-extension`)"
                )
            report.hypertables = list(
                connection.execute(
                    text(
                        "SELECT format('%I.%I', hypertable_schema, hypertable_name)"
                        "  FROM timescaledb_information.hypertables ORDER BY 1"
                    )
                ).scalars()
            )
        elif available:
            report.timescaledb_version = f"available ({available}), not installed"
        else:
            report.timescaledb_version = "not available on this server"
        connection.commit()
        report.current = revisions.database_revisions(connection)
        journal = {} if settings.exact_target else read_journal(connection)
    if report.collisions:
        return  # which file is "the" revision 002 cannot be told
    foreign = foreign_revisions(
        journal, read_revision_files(settings.script_location / "versions")
    )
    report.foreign = [entry.describe() for entry in foreign]
    history = [info.revision for info in revisions.history(settings.script_location)]
    if foreign:
        # This branch's files from where the database parted ways are not applied,
        # whatever alembic_version's ids say.
        parted = [entry.applied.revision for entry in foreign if entry.here]
        start = min((history.index(r) for r in parted), default=len(history))
        report.pending = history[start:]
        return
    report.unknown_revisions = tuple(r for r in report.current if r not in history)
    if not report.unknown_revisions:
        report.pending = migrations.pending(settings, report.current)
