"""A backend's suite on a clean copy of the project, its own dev container, twice.

The copy's sample module (200 tests, each writing ticks and candles) passes under
``pytest -n 3`` with no clone failing and no test seeing another's rows (each
test asserts the tables hold its own rows only); the run builds the template in
the dev container. The next run reuses it and says so; a new revision file makes
the run after it build another and remove the old one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    base_environment,
    devdb_summary,
    head_revisions,
    ok,
    remove_container_and_volume,
    run_invoke,
    run_pytest,
)

from devdb.settings import PROJECT_ROOT

NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "*.egg-info", "devdb.local.toml", ".cache",
)  # fmt: skip
SAMPLE = "tests/testdb/test_sample_backend.py"
# The copy's pyproject.toml keeps the toolkit's own tests out of the dev container;
# a backend's suite has no such line: the default, auto, finds the dev container.
AS_A_BACKEND = ("--devdb-server", "auto")
A_FEW = [f"{SAMPLE}::test_each_test_writes_and_reads_only_its_own_rows[{n}]" for n in (0, 7, 42, 99, 150, 199)]  # fmt: skip
NEW_REVISION = '''"""A table the template must now have."""

from alembic import op

revision = "selftest_rebuilds_the_template"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE selftest_rebuilt (id int)")


def downgrade() -> None:
    op.execute("DROP TABLE selftest_rebuilt")
'''


@pytest.fixture
def project_copy(tmp_path: Path, docker_client) -> Iterator[tuple[Path, dict]]:
    """The project's files, with a dev container of their own (up, at head)."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    name = f"stock-tracker-db-testdb-{tmp_path.name[-8:]}"
    env = base_environment(
        DEVDB_CONTAINER_NAME=name,
        DEVDB_PORT="0",
        # The copy's devdb (and so its revisions), not the checkout's install.
        PYTHONPATH=str(project),
    )
    env.pop("DEVDB_TEST_SERVER", None)
    env.pop("DEVDB_TEST_SERVER_URL", None)
    try:
        ok(run_invoke("db.up", env=env, cwd=project))
        yield project, env
    finally:
        remove_container_and_volume(docker_client, name)


def template_of(summary: str) -> str:
    return summary.split()[2]


def test_the_sample_suite_passes_in_parallel_reuses_its_template_and_rebuilds_it(
    project_copy,
):
    project, env = project_copy
    first = run_pytest(*AS_A_BACKEND, "-n", "3", SAMPLE, cwd=project, env=env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "200 passed" in first.stdout
    built = devdb_summary(first.stdout)
    assert " built in " in built and "on the dev container " in built, built
    assert "200 clones" in built and "0 clone failures" in built, built

    second = run_pytest(*AS_A_BACKEND, "-n", "3", *A_FEW, cwd=project, env=env)
    assert second.returncode == 0, second.stdout[-4000:]
    reused = devdb_summary(second.stdout)
    assert template_of(reused) == template_of(built)
    assert " reused on the dev container " in reused and "0 clone failures" in reused

    [head] = head_revisions()
    versions = project / "backend" / "alembic" / "versions"
    (versions / "selftest_rebuilds_the_template.py").write_text(
        NEW_REVISION.format(head=head)
    )
    third = run_pytest(*AS_A_BACKEND, "-n", "3", *A_FEW, cwd=project, env=env)
    assert third.returncode == 0, third.stdout[-4000:]
    rebuilt = devdb_summary(third.stdout)
    assert template_of(rebuilt) != template_of(built)
    assert " built in " in rebuilt
    assert f"old template removed: {template_of(built)}" in rebuilt

    # The dev database itself was never a test database: still at the old head.
    current = subprocess.run(
        [sys.executable, "-m", "invoke", "db.current"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert head in current.stdout + current.stderr
    assert "selftest_rebuilds_the_template" not in current.stdout
