"""The schema-change workflow itself, as the README tells a developer to follow it.

In a copy of the project (its own git repository, its own dev container): two
realistic revisions are added with `db.revision`, upgraded, dumped and checked,
and a matrix cell passes on them; then a revision whose downgrade forgets an index
turns `db.check` red naming it, and `db.backout` takes it out again, leaving the
tree as it was before it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import base_environment, ok, remove_container_and_volume, run_invoke

from devdb.images.table import reference_image
from devdb.settings import PROJECT_ROOT

NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "*.egg-info", "devdb.local.toml",
)  # fmt: skip

NEW_HYPERTABLE = '''
def upgrade() -> None:
    op.execute("""
        CREATE TABLE workflow_trades (
            symbol VARCHAR(10) NOT NULL,
            timestamp TIMESTAMPTZ NOT NULL,
            price NUMERIC(12,2) NOT NULL
        )
    """)
    op.execute("SELECT create_hypertable('workflow_trades', by_range('timestamp'))")
    op.execute("SELECT add_dimension('workflow_trades', by_hash('symbol', 4))")


def downgrade() -> None:
    op.execute("DROP TABLE workflow_trades")
'''
COLUMN_AND_INDEX = """
def upgrade() -> None:
    op.execute("ALTER TABLE tick_data ADD COLUMN workflow_exchange VARCHAR(10)")
    op.execute("CREATE INDEX idx_workflow_exchange ON tick_data (workflow_exchange)")


def downgrade() -> None:
    op.execute("DROP INDEX idx_workflow_exchange")
    op.execute("ALTER TABLE tick_data DROP COLUMN workflow_exchange")
"""
FORGETS_ITS_INDEX = """
def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS idx_workflow_price ON workflow_trades (price)"
    )


def downgrade() -> None:
    pass
"""


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project_copy(tmp_path: Path, docker_client) -> Iterator[tuple[Path, dict]]:
    """The project's files in a fresh repository on `main`, with its own container."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(
        project,
        "-c", "user.name=workflow test", "-c", "user.email=test@localhost",
        "commit", "-q", "-m", "the project as released",
    )  # fmt: skip
    name = f"stock-tracker-db-workflow-{tmp_path.name[-8:]}"
    env = base_environment(
        DEVDB_CONTAINER_NAME=name,
        DEVDB_PORT="0",
        # The copy's devdb, not the checkout's editable install.
        PYTHONPATH=str(project),
    )
    yield project, env
    remove_container_and_volume(docker_client, name)


def new_revision(project: Path, env: dict, message: str, body: str) -> Path:
    ok(run_invoke("db.revision", "-m", message, env=env, cwd=project))
    [path] = sorted((project / "backend/alembic/versions").glob("*.py"))[-1:]
    text = path.read_text()
    template_body = text[text.index("\ndef upgrade()") :]
    path.write_text(text.replace(template_body, body))
    return path


def test_revisions_added_by_the_readme_workflow_stay_green_and_a_bad_one_is_named(
    project_copy,
):
    project, env = project_copy
    ok(run_invoke("db.up", env=env, cwd=project))

    second = new_revision(project, env, "add workflow trades", NEW_HYPERTABLE)
    third = new_revision(project, env, "tick exchange column", COLUMN_AND_INDEX)
    ok(run_invoke("db.upgrade", env=env, cwd=project))
    ok(run_invoke("db.dump-schema", env=env, cwd=project))
    schema = (project / "db/schema.sql").read_text()
    assert "-- hypertable public.workflow_trades" in schema
    assert "--   dimension 2: symbol (character varying), space, 4 partitions" in schema
    assert "idx_workflow_exchange" in schema
    ok(run_invoke("db.check", env=env, cwd=project))
    green = git(project, "status", "--porcelain")

    # One matrix cell of the copy, as nox runs it (the copy's tests, the reference row).
    cell = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/matrix/timescaledb", "tests/matrix/reference",
        ],
        cwd=project,
        env={**env, "DEVDB_TEST_IMAGE": reference_image().id},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert cell.returncode == 0, cell.stdout[-4000:] + cell.stderr[-2000:]

    broken = new_revision(project, env, "index workflow prices", FORGETS_ITS_INDEX)
    ok(run_invoke("db.upgrade", env=env, cwd=project))
    ok(run_invoke("db.dump-schema", env=env, cwd=project))
    check = run_invoke("db.check", env=env, cwd=project)
    output = check.stdout + check.stderr
    assert check.returncode != 0, output
    revision = broken.name.split("_", 1)[0]
    assert f"revision {revision} does not round-trip" in output
    assert "+CREATE INDEX idx_workflow_price" in output
    assert f"TIP: make revision {revision}'s downgrade()" in output

    ok(run_invoke("db.backout", "--yes", env=env, cwd=project))
    assert not broken.exists()
    assert git(project, "status", "--porcelain") == green
    assert second.exists() and third.exists()
    ok(run_invoke("db.check", env=env, cwd=project))
