"""The contract check (`invoke db.check`): the migrations still produce db/schema.sql.

Upgrade an empty throwaway database of the reference image to head, dump it exactly
as ``db.dump-schema`` does, and compare with the committed file; plus the checksum
list and "exactly one head". Every problem is reported at once, with a unified diff
when the schema differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.console import note
from devdb.containers.throwaway import throwaway_database
from devdb.database import connect, quote_identifier
from devdb.errors import DevDbError, Problem
from devdb.files import shown
from devdb.images.table import ImageSpec, reference_image
from devdb.schema import migrations
from devdb.schema.checksums import checksum_problems, current_entries, read_sum
from devdb.schema.collisions import collision_problems, read_revision_files
from devdb.schema.dump import dump_diff, dump_schema
from devdb.schema.init_sql import init_sql_problems
from devdb.schema.released import release_problems
from devdb.schema.revisions import is_released, unreleased_revisions
from devdb.schema.roundtrip import alembic_session, linear_history, round_trip

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from devdb.settings import Settings


@dataclass(frozen=True)
class ContractReport:
    """What `db.check` found: problems, and the schema diff when there is one."""

    image: str
    problems: tuple[Problem, ...] = ()
    schema_diff: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def needs_listing(self) -> bool:
        """Whether ``render`` says more than ``error``'s one line will."""
        return bool(self.schema_diff) or len(self.problems) > 1

    def render(self) -> str:
        """The diff (if any), then one line per problem, for people to read."""
        parts = [self.schema_diff.rstrip("\n")] if self.schema_diff else []
        parts += [f"- {problem.message}" for problem in self.problems]
        return "\n".join(parts) + ("\n" if parts else "")

    def error(self) -> DevDbError | None:
        if self.ok:
            return None
        count = len(self.problems)
        if count == 1 and not self.schema_diff:
            # One problem says itself best: no "listed above" for a list of one.
            return DevDbError(self.problems[0].message, self.problems[0].tip)
        # Problems come most fundamental first (heads, released files, schema):
        # fixing the first often fixes the rest, so its tip is the one to show.
        return DevDbError(
            f"the schema contract is broken ({count} problem{'s' * (count != 1)}, "
            "listed above)",
            self.problems[0].tip,
        )


def head_problems(script_location: Path) -> list[Problem]:
    """Revision files that collide: one id twice, several heads, a missing parent."""
    return collision_problems(read_revision_files(script_location / "versions"))


class MigrationFailed(DevDbError):
    """Upgrading the throwaway database failed: a finding, not a broken tool."""


def schema_at_head(
    spec: ImageSpec,
    settings: Settings,
    script_location: Path,
    client: docker.DockerClient | None = None,
    *,
    revision: str = "head",
    round_trip_revisions: int = 0,
) -> tuple[str, Problem | None]:
    """The dump of an empty throwaway database of ``spec`` upgraded to ``revision``.

    With ``round_trip_revisions`` = N, the newest N revisions also round-trip in a
    second database of the same container (see devdb.schema.roundtrip): a downgrade that
    leaves an index behind is caught in seconds, not only by the matrix.
    """
    with throwaway_database(spec, client=client, settings=settings) as database:
        try:
            if revision != "base":
                migrations.upgrade(
                    database.settings, revision, script_location=str(script_location)
                )
        except DevDbError as error:
            raise MigrationFailed(error.message, error.tip) from None
        produced = dump_schema(database.container, database.settings)
        if not round_trip_revisions:
            return produced, None
        second = create_database(database.settings, "devdb_round_trip")
        try:
            round_trip_newest(
                database.container, second, script_location, round_trip_revisions
            )
        except DevDbError as error:
            return produced, Problem(error.message, error.tip)
        return produced, None


def create_database(settings: Settings, name: str) -> Settings:
    """An empty database beside ``settings``' one, on the same server."""
    with connect(settings, "postgres") as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f"CREATE DATABASE {quote_identifier(name)}"
        )
    return replace(settings, database=name)


def round_trip_newest(
    container: Container, settings: Settings, script_location: Path, count: int
) -> None:
    """Upgrade to just below the newest ``count`` revisions, then round-trip those."""
    history = linear_history(script_location)[-count:]
    below = history[0][1]
    with alembic_session(settings, script_location) as run:
        if below != "base":
            run("upgrade", below)
        round_trip(run, lambda: dump_schema(container, settings), history)


def check_contract(
    settings: Settings,
    *,
    script_location: Path,
    schema_file: Path,
    sum_file: Path,
    spec: ImageSpec | None = None,
    client: docker.DockerClient | None = None,
    against: str | None = None,
) -> ContractReport:
    """Every way the migrations and the committed contract disagree, at once.

    Needs Docker for the schema comparison; the checksum and head checks need none.
    While revision files collide nothing else is checked: checksums and schema
    would only repeat the collision in other words, and there is no single head to
    upgrade to. ``against`` names the branch whose head the unreleased revisions
    must sit on (default: the release branch and its upstream).
    """
    spec = spec or reference_image()
    versions_dir = script_location / "versions"
    files = read_revision_files(versions_dir)
    collisions = collision_problems(files)
    if collisions:
        return ContractReport(spec.id, tuple(collisions))
    placement = release_problems(
        files, settings.project_root, against or settings.release_branch, versions_dir
    )
    # The revisions still being written get the round trip here; released ones
    # had theirs when they were written, and the matrix repeats them all.
    newest = max(
        1,
        len(
            unreleased_revisions(
                script_location, settings.project_root, settings.release_branch
            )
        ),
    )
    problems = placement + checksum_problems(
        read_sum(sum_file),
        current_entries(script_location),
        sum_file=sum_file,
        script_location=script_location,
        released=lambda path: is_released(
            path, settings.project_root, settings.release_branch
        ),
    )
    committed_name = shown(schema_file)
    note(f"Upgrading a throwaway {spec.id} database to head, then dumping it")
    try:
        produced, round_trip_problem = schema_at_head(
            spec, settings, script_location, client, round_trip_revisions=newest
        )
    except MigrationFailed as error:
        problems.append(
            Problem(f"upgrading to head failed: {error.message}", error.tip)
        )
        return ContractReport(spec.id, tuple(problems))
    if not schema_file.is_file():
        problems.append(
            Problem(
                f"{committed_name} does not exist",
                "run `invoke db.dump-schema` and commit the file",
            )
        )
        return ContractReport(spec.id, tuple(problems))
    problems += init_sql_problems(settings)
    if round_trip_problem is not None:
        # A downgrade that does not undo its upgrade is the finding to fix first.
        problems.insert(len(placement), round_trip_problem)
    committed = schema_file.read_text(encoding="utf-8")
    diff = ""
    if committed != produced:
        diff = dump_diff(
            committed,
            produced,
            f"{committed_name} (committed)",
            f"{committed_name} (migrations at head on {spec.id})",
        )
        problems.append(
            Problem(
                f"the migrations at head do not produce the committed {committed_name} "
                "(diff above: - committed, + produced)",
                "a schema change belongs in a new revision: `invoke db.upgrade`, "
                f"`invoke db.dump-schema`, then commit {committed_name} with it",
            )
        )
    return ContractReport(spec.id, tuple(problems), diff)
