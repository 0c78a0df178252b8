"""The schema contract on real TimescaleDB containers.

`db.check`'s library function runs against a temporary copy of backend/alembic, so
a test can edit a released revision or add a second head without touching the
project's own files; the committed db/schema.sql and db/alembic.sum are only read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import committed_hypertables, head_revisions

from devdb import workflow
from devdb.containers import dev as devcontainer
from devdb.database import connect
from devdb.errors import DevDbError
from devdb.images.table import reference_image
from devdb.schema import contract, migrations
from devdb.settings import PROJECT_ROOT

SCHEMA_FILE = PROJECT_ROOT / "db" / "schema.sql"
SUM_FILE = PROJECT_ROOT / "db" / "alembic.sum"
REVISION_001 = Path("versions") / "001_create_hypertables.py"


@pytest.fixture
def script_copy(tmp_path: Path) -> Path:
    """A private copy of backend/alembic, free to edit."""
    copy = tmp_path / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "backend" / "alembic",
        copy,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return copy


def check(settings, script_location: Path, docker_client):
    """db.check's core, always on the reference image: the contract is defined there."""
    return contract.check_contract(
        settings,
        script_location=script_location,
        schema_file=SCHEMA_FILE,
        sum_file=SUM_FILE,
        spec=reference_image(),
        client=docker_client,
    )


@pytest.fixture
def dev_like_project(tmp_path: Path, fresh_database):
    """Settings that treat a throwaway database as the dev container.

    The project root is a temporary directory holding a copy of backend/, so the
    dump lands in tmp_path/db/schema.sql and never in the real file.
    """
    root = tmp_path / "project"
    shutil.copytree(
        PROJECT_ROOT / "backend",
        root / "backend",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    settings = replace(
        fresh_database.settings,
        container_name=fresh_database.container.name,
        exact_target=False,
        project_root=root,
    )
    migrations.upgrade(settings, "head")
    return settings


def test_two_consecutive_dumps_are_byte_identical(
    dev_like_project, fresh_database, reference_spec
):
    settings = dev_like_project
    assert workflow.refresh_schema_file(settings) is True
    first = settings.schema_file.read_bytes()
    assert workflow.refresh_schema_file(settings) is False
    assert settings.schema_file.read_bytes() == first

    text = first.decode()
    assert not [line for line in text.splitlines() if "restrict " in line]
    # A bare "--" line would be what is left of pg_dump's comment frames.
    assert not [
        line for line in text.splitlines() if line.startswith("SET ") or line == "--"
    ]
    assert "COMMENT ON EXTENSION" not in text
    assert "-- Name:" not in text
    for table, column in committed_hypertables().items():
        assert f"-- hypertable public.{table}" in text
        assert f"--   dimension 1: {column} " in text
    assert text.endswith(
        f"\n-- alembic revision: {' '.join(sorted(head_revisions()))}\n"
    )
    if reference_spec.reference:  # DEVDB_TEST_IMAGE may name another row
        assert text == SCHEMA_FILE.read_text(), "db/schema.sql is stale"


def test_a_new_dimension_shows_in_the_manifest(dev_like_project, fresh_database):
    settings = dev_like_project
    workflow.refresh_schema_file(settings)
    # add_dimension is in the Apache build, unlike compression and policies.
    with connect(settings) as connection:
        from sqlalchemy import text

        connection.execute(
            text("SELECT add_dimension('tick_data', by_hash('symbol', 4))")
        )
        connection.commit()
    assert workflow.refresh_schema_file(settings) is True
    assert (
        "-- hypertable public.tick_data\n"
        "--   dimension 1: timestamp (timestamp with time zone), time, "
        "chunk interval 7 days\n"
        "--   dimension 2: symbol (character varying), space, 4 partitions\n"
    ) in settings.schema_file.read_text()


def test_database_url_must_name_the_dev_container(dev_like_project, fresh_database):
    settings = replace(dev_like_project, exact_target=True)
    container, target = devcontainer.dev_database(settings)
    assert container.id == fresh_database.container.id
    assert target.port == settings.port
    with pytest.raises(DevDbError, match="not at the dev container"):
        devcontainer.dev_database(replace(settings, port=settings.port + 1))


def test_changed_released_revision_fails_then_reverting_passes(
    script_copy, test_settings, docker_client
):
    revision = script_copy / REVISION_001
    original = revision.read_text()
    changed = original.replace(
        "ON tick_data (symbol, timestamp DESC)", "ON tick_data (symbol, price)"
    )
    assert changed != original
    revision.write_text(changed)

    report = check(test_settings, script_copy, docker_client)
    assert not report.ok
    rendered = report.render()
    assert (
        "\n-CREATE INDEX idx_tick_symbol_time ON public.tick_data USING btree "
        '(symbol, "timestamp" DESC);\n'
    ) in rendered
    assert (
        "\n+CREATE INDEX idx_tick_symbol_time ON public.tick_data USING btree "
        "(symbol, price);\n"
    ) in rendered
    assert "--- db/schema.sql (committed)\n" in rendered
    assert f"+++ db/schema.sql (migrations at head on {reference_image().id})\n" in (
        rendered
    )
    assert (
        f"- released revision 001 changed ({revision}): checksum mismatch, "
        "db/alembic.sum records sha256:"
    ) in rendered
    error = report.error()
    assert error is not None
    assert f"revert it (`git checkout -- {revision}`)" in error.tip

    revision.write_text(original)
    reverted = check(test_settings, script_copy, docker_client)
    assert reverted.ok, reverted.render()
    assert reverted.schema_diff == ""


def test_two_heads_fail(script_copy, test_settings, docker_client):
    # Two self-test revisions on today's head: their ids cannot collide with real ones.
    [head] = head_revisions()
    for name in ("selftest_head_a", "selftest_head_b"):
        (script_copy / "versions" / f"{name}.py").write_text(
            f'"""A self-test branch."""\n\nrevision = "{name}"\n'
            f'down_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
        )
    report = check(test_settings, script_copy, docker_client)
    # The heads, naming each file, and nothing else: checksums and schema would only
    # repeat the collision in other words.
    [message] = [problem.message for problem in report.problems]
    assert message.startswith("the revisions have 2 heads: selftest_head_a (")
    assert "selftest_head_b.py" in message and "there must be exactly one" in message
    error = report.error()
    assert error is not None and "invoke db.rebase" in error.tip


def test_invoke_db_check_passes_on_the_committed_contract():
    invoke = Path(sys.executable).parent / "invoke"
    result = subprocess.run(
        [str(invoke), "db.check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Schema contract holds" in result.stderr
