"""Every revision round-trips; a broken downgrade is caught and named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devdb import revisions
from devdb.errors import DevDbError
from devdb.roundtrip import check_round_trip
from devdb.settings import PROJECT_ROOT

# Revision 002 with a broken downgrade, two ways: one forgets the index its upgrade
# made (re-upgrading would then trip over it), one drops an index 001 owns.
BROKEN_REVISION = '''
"""A throwaway revision with a broken downgrade."""

from alembic import op

revision = "002"
down_revision = "001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX idx_tick_price ON tick_data (price)")


def downgrade() -> None:
    {downgrade}
'''


def test_every_revision_round_trips(cell, empty_database) -> None:
    steps = check_round_trip(empty_database.container, empty_database.settings)
    expected = [
        info.revision
        for info in revisions.history(empty_database.settings.script_location)
    ]
    assert [step.revision for step in steps] == expected
    for step in steps:
        print(f"round trip {step.down_to} -> {step.revision}: {step.seconds:.2f} s")


@pytest.mark.parametrize(
    ("downgrade", "leftover"),
    [
        pytest.param("pass", "+CREATE INDEX idx_tick_price", id="forgets-its-index"),
        pytest.param(
            'op.execute("DROP INDEX idx_tick_price")\n'
            '    op.execute("DROP INDEX idx_tick_symbol_time")',
            "-CREATE INDEX idx_tick_symbol_time",
            id="drops-too-much",
        ),
    ],
)
def test_a_broken_downgrade_fails_naming_its_revision(
    tmp_path: Path, empty_database, downgrade: str, leftover: str
) -> None:
    script_location = tmp_path / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "backend" / "alembic",
        script_location,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (script_location / "versions" / "002_broken_downgrade.py").write_text(
        BROKEN_REVISION.format(downgrade=downgrade)
    )

    with pytest.raises(DevDbError) as caught:
        check_round_trip(
            empty_database.container,
            empty_database.settings,
            script_location=script_location,
        )

    message = caught.value.message
    print(caught.value.render())
    assert message.startswith("revision 002 does not round-trip"), message
    assert "does not restore the schema of 001" in message
    assert leftover in message
    assert "002" in caught.value.tip
