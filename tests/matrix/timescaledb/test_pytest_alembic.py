"""pytest-alembic's history tests, each on a fresh database in the cell's container.

Its models-vs-DDL test is left out on purpose: there are no ORM models here (the
migrations are raw SQL); the committed schema dump plays that role.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from pytest_alembic.tests import (
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy.engine import Connection

from devdb.database import connect
from devdb.settings import PROJECT_ROOT

__all__ = ["test_single_head_revision", "test_up_down_consistency", "test_upgrade"]


@pytest.fixture
def alembic_config() -> Config:
    return Config(
        config_options={
            "file": str(PROJECT_ROOT / "backend" / "alembic.ini"),
            # alembic.ini's "alembic" is relative to backend/; pytest runs elsewhere.
            "script_location": str(PROJECT_ROOT / "backend" / "alembic"),
        }
    )


@pytest.fixture
def alembic_engine(empty_database) -> Iterator[Connection]:
    # A Connection, not an Engine: pytest-alembic hands this object to env.py as
    # config.attributes["connection"], and env.py runs queries on it directly.
    with connect(empty_database.settings) as connection:
        yield connection
