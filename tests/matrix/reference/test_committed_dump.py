"""On the reference image, the committed db/schema.sql is the schema at head."""

from __future__ import annotations

import pytest

from devdb.schema.dump import dump_diff, dump_schema


def test_committed_schema_dump_matches_head(head_database) -> None:
    committed_file = head_database.settings.schema_file
    if not committed_file.is_file():
        pytest.fail(
            f"{committed_file} is missing: the schema at head must be committed "
            "(`invoke db.dump-schema`, then commit db/schema.sql)",
            pytrace=False,
        )
    committed = committed_file.read_text()
    at_head = dump_schema(head_database.container, head_database.settings)
    assert at_head == committed, (
        "db/schema.sql differs from the migrations at head "
        "(`invoke db.dump-schema` refreshes it):\n"
        + dump_diff(committed, at_head, "db/schema.sql", "migrations at head")
    )
