# /// script
# dependencies = ["nox>=2025.2.9", "rich>=13.7"]
# ///
"""Test sessions: unit tests, lint, types, integration, test databases, the images,
the newcomer's walkthrough, and the migration matrix by image.

`nox` runs them all (.ci/run does, with DEVDB_IMAGE_SOURCE=offline so the
offline-built rows are used; a laptop with a registry gets the official images).
`nox -s migrations` runs one cell per row of devdb.images.table.IMAGES;
`nox -s "migrations(pg17-ts2.19)"` runs one. `nox -l --json` lists every session,
and the GitHub workflow makes a job of each from it (scripts/ci_cells.py).
`nox -R ...` reuses the virtualenvs without reinstalling.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

# The image table is the matrix; nox imports it from the checkout, not an install
# (the script block above gives nox the one third-party module it needs, rich).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from devdb.images.table import IMAGES, ImageSpec, image_spec

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

# Test processes for the sessions on real containers (pytest-xdist). Their tests
# mostly wait on Docker and PostgreSQL, so three beat two on a 2-core machine:
# tests/integration took 164 s serially, 105 s with -n 3, 87 s with -n 3 keeping
# each file on one process (its module fixtures start once), 98 s with -n 4.
PARALLEL = ("-n", "3", "--dist", "loadfile")
# The image contract is one file of a hundred independent tests: spread them.
PARALLEL_TESTS = ("-n", "3")
# Spread the tests, but keep a group (xdist_group: one dev container) together.
PARALLEL_GROUPS = ("-n", "3", "--dist", "loadgroup")

# Tags say which CI job runs a session (scripts/ci_cells.py): "fast" ones need no
# Docker and share one job; "offline-images" ones run where the offline images are
# built; any other session gets a job of its own.
FAST = ["fast"]


@nox.session(tags=FAST)
def tests(session: nox.Session) -> None:
    """Unit tests: pure functions, no Docker."""
    _install(session)
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(tags=FAST)
def lint(session: nox.Session) -> None:
    """The pre-commit hooks on every file: ruff, shellcheck, actionlint, db.lint.

    The same hooks a commit runs (.pre-commit-config.yaml), so the two never
    disagree; `nox -s lint -- ruff-check` runs one.
    """
    _install(session)
    session.run(
        "pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs
    )


@nox.session(tags=FAST)
def typecheck(session: nox.Session) -> None:
    """mypy over the library, the tasks, this file and Alembic's env.py."""
    _install(session)
    session.run("mypy", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """The toolkit on a real TimescaleDB: tasks, Alembic, safety, errors, seed.

    Real containers (Docker needed; fails without it), on the reference image.
    """
    # Sessions inherit the caller's environment: DEVDB_IMAGE_SOURCE, DOCKER_HOST, ...
    _install(session)
    session.run("pytest", *PARALLEL, "tests/integration", *session.posargs)


@nox.session
def testdb(session: nox.Session) -> None:
    """Test databases at head (the pytest plugin) and dev snapshots, end to end.

    The sample backend module's 200 tests spread over the processes; a clean copy
    of the project runs it with its own dev container (built, reused, rebuilt).
    """
    _install(session)
    session.run("pytest", *PARALLEL_GROUPS, "tests/testdb", *session.posargs)


@nox.session(tags=["offline-images"])
def images(session: nox.Session) -> None:
    """The offline images: the official contract on every TimescaleDB row, labels.

    Also leanness and how a failing build reports itself.
    """
    _install(session)
    session.run("pytest", *PARALLEL_TESTS, "tests/images", *session.posargs)


@nox.session
def walkthrough(session: nox.Session) -> None:
    """A newcomer's path end to end: onboarding, the README's schema-change workflow.

    Onboarding runs on a clean clone; the workflow (new revisions, a wrong one,
    backing out) in a copy of the project.
    """
    _install(session)
    session.run("pytest", *PARALLEL, "tests/walkthrough", *session.posargs)


@nox.session
@nox.parametrize("image", [nox.param(spec.id, id=spec.id) for spec in IMAGES])
def migrations(session: nox.Session, image: str) -> None:
    """One matrix cell: every revision on one image, in one throwaway container."""
    _install(session)
    tests = _row_tests(image_spec(image))
    session.run("pytest", *tests, *session.posargs, env={"DEVDB_TEST_IMAGE": image})


def _install(session: nox.Session) -> None:
    # uv installs without bytecode; where PYTHONDONTWRITEBYTECODE is set (CI images,
    # sandboxes) every `invoke` a test starts would then compile SQLAlchemy and
    # Alembic from source again: integration took 157 s instead of 87 s.
    session.install(
        "-r", "requirements.txt", "-e", ".", env={"UV_COMPILE_BYTECODE": "1"}
    )


def _row_tests(spec: ImageSpec) -> list[str]:
    """The test directories that apply to a row: chosen here, so none skips."""
    return [f"tests/matrix/{directory}" for directory in spec.matrix_test_dirs]
