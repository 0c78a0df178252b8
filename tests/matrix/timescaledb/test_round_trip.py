"""Every revision round-trips; a broken downgrade is caught and named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import first_revision

from devdb.errors import DevDbError
from devdb.schema import revisions
from devdb.schema.collisions import parse_revision_file
from devdb.schema.roundtrip import check_round_trip
from devdb.settings import PROJECT_ROOT

# A self-test revision with a broken downgrade, two ways: one forgets the index its
# upgrade made (re-upgrading would then trip over it), one drops an index the seed
# revision owns. It sits on the first revision alone (the seed plan's, released and
# never changed), so a project revision with a broken downgrade fails its own test
# and not these too. Its id and index name cannot collide with real ones.
SELF_TEST_REVISION = "selftest_broken_downgrade"
BROKEN_REVISION = '''
"""A throwaway revision with a broken downgrade."""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX idx_selftest_price ON tick_data (price)")


def downgrade() -> None:
    {downgrade}
'''


def test_every_revision_round_trips(cell, empty_database) -> None:
    try:
        steps = check_round_trip(empty_database.container, empty_database.settings)
    except DevDbError as error:
        # The cell's last lines are the library's ERROR and TIP, not a traceback.
        pytest.fail(error.render(), pytrace=False)
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
        pytest.param(
            "pass", "+CREATE INDEX idx_selftest_price", id="forgets-its-index"
        ),
        pytest.param(
            'op.execute("DROP INDEX idx_selftest_price")\n'
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
    head = first_revision()
    for path in (script_location / "versions").glob("*.py"):
        if parse_revision_file(path).revision != head:
            path.unlink()
    (script_location / "versions" / f"{SELF_TEST_REVISION}.py").write_text(
        BROKEN_REVISION.format(
            revision=SELF_TEST_REVISION, head=head, downgrade=downgrade
        )
    )

    with pytest.raises(DevDbError) as caught:
        check_round_trip(
            empty_database.container,
            empty_database.settings,
            script_location=script_location,
        )

    message = caught.value.message
    print(caught.value.render())
    assert message.startswith(f"revision {SELF_TEST_REVISION} does not round-trip"), (
        message
    )
    assert f"does not restore the schema of {head}" in message
    assert leftover in message
    assert SELF_TEST_REVISION in caught.value.tip
