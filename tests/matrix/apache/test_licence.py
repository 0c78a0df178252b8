"""The Apache-only row (Debian's package): a Timescale License feature fails clearly."""

from __future__ import annotations

import pytest
from helpers import head_revisions
from sqlalchemy import text

from devdb.database import connect
from devdb.errors import DevDbError
from devdb.schema import migrations


def test_the_licence_is_apache(head_database) -> None:
    # In a database with the extension: its versioned library defines the setting.
    with connect(head_database.settings) as connection:
        licence = connection.execute(text("SHOW timescaledb.license")).scalar()
    assert licence == "apache"


def test_a_revision_using_compression_fails_in_one_line_naming_the_licence(
    empty_database, compression_revision
) -> None:
    settings = empty_database.settings
    with pytest.raises(DevDbError) as caught:
        migrations.upgrade(settings, "head", script_location=compression_revision)

    rendered = caught.value.render()
    print(rendered)
    assert rendered.count("\n") == 1, f"one ERROR and one TIP line:\n{rendered}"
    assert 'timescaledb.license = "apache"' in caught.value.message
    assert "licence timescale" in caught.value.tip
    assert migrations.current(settings) == head_revisions(), (
        "today's revisions applied, the TSL one not"
    )
