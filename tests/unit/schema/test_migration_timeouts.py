"""The migration timeout settings: defaults, environment, and bad values."""

from __future__ import annotations

import pytest

from devdb.errors import DevDbError
from devdb.schema.migrations import alembic_config
from devdb.settings import load_settings


def test_defaults_and_environment(tmp_path):
    defaults = load_settings({}, project_root=tmp_path)
    assert (defaults.migration_lock_timeout, defaults.migration_statement_timeout) == (
        "5s",
        "0",
    )
    chosen = load_settings(
        {
            "DEVDB_MIGRATION_LOCK_TIMEOUT": "500ms",
            "DEVDB_MIGRATION_STATEMENT_TIMEOUT": "15min",
        },
        project_root=tmp_path,
    )
    assert chosen.migration_lock_timeout == "500ms"
    config = alembic_config(chosen)
    assert config.attributes["migration_timeouts"] == ("500ms", "15min")


def test_a_value_postgresql_would_refuse_is_explained(tmp_path):
    with pytest.raises(DevDbError, match="PostgreSQL duration") as refused:
        load_settings({"DEVDB_MIGRATION_LOCK_TIMEOUT": "soon"}, project_root=tmp_path)
    assert "DEVDB_MIGRATION_LOCK_TIMEOUT" in refused.value.tip
