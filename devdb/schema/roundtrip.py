"""The per-revision round trip: every downgrade must really undo its upgrade.

For each revision N, oldest first, on a database at N-1 (base for the first):

1. upgrade to N and dump (A);
2. downgrade to N-1 and dump: it must show N-1's schema again (extensions aside);
3. upgrade to N again and dump (B): A must equal B.

pytest-alembic's up/down consistency proves each downgrade *runs*; this proves it
restores the schema, which is what breaks when a downgrade forgets an index or a
re-upgrade trips over what was left behind. The first failure raises DevDbError
naming the revision and showing the difference.

It drives Alembic with its own ``script_location`` so a test can point it at a
temporary copy of ``backend/alembic`` holding a deliberately broken revision.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.schema import migrations
from devdb.schema.dump import dump_diff, dump_schema
from devdb.schema.revisions import read_revisions

if TYPE_CHECKING:
    from docker.models.containers import Container
    from sqlalchemy.engine import Connection

    from devdb.settings import Settings

DIFF_LINES_SHOWN = 40


@dataclass(frozen=True)
class RoundTripStep:
    """One revision that round-tripped, and what it cost."""

    revision: str
    down_to: str  # the revision its downgrade lands on ("base" for the first)
    seconds: float


Dumper = Callable[[], str]


def linear_history(script_location: Path) -> list[tuple[str, str]]:
    """(revision, the revision below it or "base"), oldest first.

    A merge revision has no single "N-1" to step down to, so it is refused with a
    clear error rather than checked half-way.
    """
    steps: list[tuple[str, str]] = []
    for revision in read_revisions(script_location)[0]:
        below = revision.down_revision
        if below is not None and not isinstance(below, str):
            raise DevDbError(
                f"revision {revision.revision} merges {', '.join(below)}; the round "
                "trip checks a linear history only",
                "check the branches separately, or squash the merge",
            )
        steps.append((revision.revision, below or "base"))
    return steps


# A downgrade may leave an extension installed: dropping one needs more rights than
# creating it did and takes every object that uses it along, so revision 001 keeps
# timescaledb on its way down (the seed's downgrade does), and so the manifest's
# placeholder lines differ between "extension, no hypertables" and "no extension".
EXTENSION_NOISE = re.compile(
    r"^(CREATE EXTENSION |-- \(timescaledb is not installed|-- \(no hypertables\))"
)


def schema_ignoring_extensions(dump: str) -> str:
    """The dump's statements and manifest, without installed-extension noise."""
    return "\n".join(
        line for line in dump.splitlines() if line and not EXTENSION_NOISE.match(line)
    )


@contextmanager
def alembic_session(
    settings: Settings, script_location: str | Path | None
) -> Iterator[Callable[..., None]]:
    """``run(command_name, *args)`` on one connection, errors as DevDbError."""
    # lazy: Alembic and SQLAlchemy cost `invoke --list` half a second
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    config = migrations.alembic_config(
        settings, str(script_location) if script_location else None
    )
    with connect(settings) as connection:
        config.attributes["connection"] = connection

        def run(name: str, *args: object) -> None:
            try:
                getattr(command, name)(config, *args)
            except CommandError as error:
                raise migrations.command_error(error) from None
            except DBAPIError as error:
                rollback_quietly(connection)
                raise migrations.migration_failed(error) from None

        yield run


def rollback_quietly(connection: Connection) -> None:
    # A failed statement leaves the transaction aborted; the next step (or the
    # caller's dump) needs a usable connection.
    if connection.in_transaction():
        connection.rollback()


def round_trip(
    run: Callable[..., None],
    dump: Dumper,
    history: list[tuple[str, str]],
    *,
    on_step: Callable[[RoundTripStep], None] | None = None,
) -> list[RoundTripStep]:
    """The round trip over ``history`` with injected Alembic and dump callables."""
    steps: list[RoundTripStep] = []
    below_dump = dump()
    for revision, below in history:
        started = time.monotonic()
        attempt(
            run,
            "upgrade",
            revision,
            revision,
            f"upgrading {below} -> {revision} failed",
        )
        at_revision = dump()
        attempt(run, "downgrade", below, revision, f"its downgrade to {below} failed")
        restored = dump()
        if schema_ignoring_extensions(restored) != schema_ignoring_extensions(
            below_dump
        ):
            raise DevDbError(
                f"revision {revision} does not round-trip: its downgrade does not "
                f"restore the schema of {below}\n"
                + dump_diff(
                    below_dump,
                    restored,
                    f"at {below}",
                    f"after downgrading {revision}",
                    max_lines=DIFF_LINES_SHOWN,
                ),
                f"make revision {revision}'s downgrade() undo everything its "
                "upgrade() creates",
            )
        attempt(
            run,
            "upgrade",
            revision,
            revision,
            f"upgrading again after its downgrade failed (left behind by {revision}'s "
            "downgrade?)",
        )
        again = dump()
        if again != at_revision:
            raise DevDbError(
                f"revision {revision} does not round-trip: up, down and up again "
                "gives a different schema\n"
                + dump_diff(
                    at_revision,
                    again,
                    f"after upgrade to {revision}",
                    "after up, down, up",
                    max_lines=DIFF_LINES_SHOWN,
                ),
                f"make revision {revision}'s downgrade() the exact inverse of its upgrade()",
            )
        step = RoundTripStep(revision, below, time.monotonic() - started)
        steps.append(step)
        if on_step:
            on_step(step)
        below_dump = again
    return steps


def attempt(
    run: Callable[..., None], name: str, target: str, revision: str, what: str
) -> None:
    try:
        run(name, target)
    except DevDbError as error:
        raise DevDbError(
            f"revision {revision} does not round-trip: {what}: {error.message}",
            error.tip,
        ) from None


def check_round_trip(
    container: Container,
    settings: Settings,
    *,
    script_location: str | Path | None = None,
    on_step: Callable[[RoundTripStep], None] | None = None,
) -> list[RoundTripStep]:
    """Round-trip every revision on ``settings``' database, which must be empty.

    ``script_location`` defaults to backend/alembic. Returns the steps, oldest
    first; raises DevDbError naming the first revision that does not round-trip.
    """
    history = linear_history(
        Path(script_location) if script_location else settings.script_location
    )
    with alembic_session(settings, script_location) as run:
        if migrations.current(settings):
            raise DevDbError(
                f"the round trip needs an empty database; {settings.database} is at "
                f"revision {' '.join(migrations.current(settings))}",
                "run it on a throwaway database (the migration matrix does)",
            )
        return round_trip(
            run,
            lambda: dump_schema(container, settings),
            history,
            on_step=on_step,
        )
