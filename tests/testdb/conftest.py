"""Fixtures of the test-database tests: a server whose TimescaleDB scheduler runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FEATURES_REVISION, FEATURES_REVISION_ID, head_revisions

from devdb.settings import PROJECT_ROOT

# A revision giving the database settings of its own, which CREATE DATABASE does
# not copy into a clone: each clone must get them all the same.
DATABASE_SETTINGS_REVISION = '''
"""Per-database settings: the exchange's time zone, a search path with a quote."""

from alembic import op

revision = "selftest_database_settings"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        DO $$ BEGIN
          EXECUTE format('ALTER DATABASE %I SET timezone = %L',
                         current_database(), 'Asia/Ho_Chi_Minh');
          EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, "Selftest Schema"',
                         current_database());
        END $$
    """)


def downgrade() -> None:
    op.execute("""
        DO $$ BEGIN
          EXECUTE format('ALTER DATABASE %I RESET ALL', current_database());
        END $$
    """)
'''


@pytest.fixture(scope="session")
def busy_server(docker_client, test_settings, reference_spec) -> Iterator:
    """A throwaway server with TimescaleDB's background workers on, as in the
    dev container: its scheduler connects to every database that lets it."""
    from devdb.containers.throwaway import throwaway_database

    with throwaway_database(
        reference_spec,
        client=docker_client,
        settings=test_settings,
        background_workers=True,
    ) as server:
        yield server


@pytest.fixture
def features_script(tmp_path: Path) -> Path:
    """backend/alembic, copied, plus the TSL features revision and one that gives
    the database settings of its own."""
    script = tmp_path / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "backend" / "alembic",
        script,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    [head] = head_revisions()
    versions = script / "versions"
    (versions / f"{FEATURES_REVISION_ID}.py").write_text(
        FEATURES_REVISION.format(revision=FEATURES_REVISION_ID, head=head)
    )
    (versions / "selftest_database_settings.py").write_text(
        DATABASE_SETTINGS_REVISION.format(head=FEATURES_REVISION_ID)
    )
    return script
