"""The replay behind `db.rebase`: the new history proved on a throwaway database.

Before a rebase changes anything in the checkout, the renumbered history runs on
one throwaway container of the reference image: it must reach head (its dump is
the new ``db/schema.sql``, never the dev database's), each of my revisions must
round-trip, and when the dev database holds mine as applied before, the carry is
tried on a copy of that history and compared with a clean database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devdb.containers.throwaway import throwaway_database
from devdb.errors import DevDbError
from devdb.images.table import reference_image
from devdb.schema import migrations
from devdb.schema.collisions import (
    check_revision_files,
    linear_chain,
    read_revision_files,
)
from devdb.schema.contract import create_database, round_trip_newest
from devdb.schema.dump import dump_schema
from devdb.schema.journal import Applied
from devdb.team.carry import plan_carry, trial
from devdb.team.scratch import scratch_project

if TYPE_CHECKING:
    from devdb.settings import Settings


@dataclass(frozen=True)
class Replay:
    """What the throwaway database said about the new history."""

    schema: str  # db/schema.sql's new text
    carry_diff: str  # non-empty when my revisions do not commute with the others'
    carry_clean: str  # a clean database's dump at my newest applied revision


def replay(
    settings: Settings,
    tree: dict[str, str],
    mine_count: int,
    journal: dict[str, Applied],
) -> Replay:
    """The new history on one throwaway container: head's dump, the round trip of
    mine, and the dev database's carry tried on a copy of its history."""
    with (
        migrations.progress_hidden(),
        throwaway_database(reference_image(), settings=settings) as database,
    ):
        container = database.container
        head_db = create_database(database.settings, "devdb_rebase_head")
        with scratch_project(head_db, tree) as at_head:
            check_revision_files(at_head.script_location / "versions")
            try:
                migrations.upgrade(at_head, "head")
            except DevDbError as error:
                raise DevDbError(
                    f"the renumbered history does not reach head: {error.message}",
                    "nothing was changed; fix the revision it names on your branch, "
                    "then `invoke db.rebase`",
                ) from None
            schema = dump_schema(container, at_head)
            trip_db = create_database(database.settings, "devdb_rebase_round_trip")
            with scratch_project(trip_db, tree) as tripping:
                round_trip_newest(
                    container, tripping, tripping.script_location, max(mine_count, 1)
                )
            plan = plan_carry(
                journal, read_revision_files(at_head.script_location / "versions")
            )
            if plan is None:
                return Replay(schema, "", "")
            clean = schema
            if (
                plan.new_top
                != linear_chain(
                    read_revision_files(at_head.script_location / "versions")
                )[-1].revision
            ):
                # Mine not all applied yet: compare at the newest one that is.
                clean_db = create_database(database.settings, "devdb_carry_clean")
                with scratch_project(clean_db, tree) as at_top:
                    migrations.upgrade(at_top, plan.new_top)
                    clean = dump_schema(container, at_top)
            trial_db = create_database(database.settings, "devdb_carry_trial")
            with scratch_project(trial_db, tree) as carried:
                return Replay(schema, trial(container, carried, plan, clean), clean)
