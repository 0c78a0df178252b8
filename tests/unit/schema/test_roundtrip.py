"""The round trip's logic, with Alembic and pg_dump replaced by a tiny fake schema.

The fake is a set of object names: each revision adds its objects on upgrade and
removes whatever its downgrade says. The real thing runs in the migration matrix.
"""

from __future__ import annotations

import pytest

from devdb.errors import DevDbError
from devdb.schema.roundtrip import RoundTripStep, round_trip, schema_ignoring_extensions

# The fake database's own history (not the project's revisions, which the
# migration matrix round-trips for real).
HISTORY = [("001", "base"), ("002", "001"), ("003", "002")]


class FakeDatabase:
    """Revisions as object sets; ``broken`` makes one revision misbehave."""

    def __init__(self, broken: dict[str, str] | None = None) -> None:
        self.objects: set[str] = set()
        self.revision = "base"
        self.broken = broken or {}
        self.upgrades: dict[str, int] = {}

    def run(self, command: str, target: str) -> None:
        if command == "upgrade":
            self.upgrades[target] = self.upgrades.get(target, 0) + 1
            again = self.upgrades[target] > 1
            if self.broken.get(target) == "fails-again" and again:
                raise DevDbError(
                    'a migration failed: relation "idx" already exists', "fix it"
                )
            self.objects |= {f"table_{target}"}
            if self.broken.get(target) == "differs-again" and again:
                self.objects |= {f"extra_{target}"}
            self.revision = target
        else:
            leaving = self.revision
            if self.broken.get(leaving) != "keeps-table":
                self.objects -= {f"table_{leaving}"}
            self.revision = target

    def dump(self) -> str:
        lines = [f"CREATE TABLE {name};" for name in sorted(self.objects)]
        return "\n".join([*lines, f"-- alembic revision: {self.revision}"]) + "\n"


def test_a_sound_history_round_trips_every_revision_in_order() -> None:
    database = FakeDatabase()
    seen: list[RoundTripStep] = []

    steps = round_trip(database.run, database.dump, HISTORY, on_step=seen.append)

    assert [(step.revision, step.down_to) for step in steps] == HISTORY
    assert seen == steps
    assert database.revision == "003"


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        ("keeps-table", "its downgrade does not restore the schema of 001"),
        ("fails-again", "upgrading again after its downgrade failed"),
        ("differs-again", "up, down and up again gives a different schema"),
    ],
)
def test_the_first_broken_revision_is_named(broken: str, words: str) -> None:
    database = FakeDatabase(broken={"002": broken})

    with pytest.raises(DevDbError) as caught:
        round_trip(database.run, database.dump, HISTORY)

    assert caught.value.message.startswith("revision 002 does not round-trip"), (
        caught.value.message
    )
    assert words in caught.value.message
    assert caught.value.tip


def test_the_difference_is_shown_as_a_diff() -> None:
    database = FakeDatabase(broken={"002": "keeps-table"})

    with pytest.raises(DevDbError) as caught:
        round_trip(database.run, database.dump, HISTORY)

    assert "+CREATE TABLE table_002;" in caught.value.message


def test_an_extension_left_behind_at_base_is_not_a_difference() -> None:
    empty = (
        "-- TimescaleDB manifest\n-- (timescaledb is not installed in this database)\n"
    )
    after_downgrade = (
        "CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;\n\n"
        "-- TimescaleDB manifest\n-- (no hypertables)\n"
    )
    assert schema_ignoring_extensions(empty) == schema_ignoring_extensions(
        after_downgrade
    )
    assert schema_ignoring_extensions(
        "CREATE TABLE t;\n"
    ) != schema_ignoring_extensions("")
