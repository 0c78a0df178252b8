"""One matrix cell: the image named by DEVDB_TEST_IMAGE, in ONE throwaway container.

Starting a database costs more than anything a test does in it, so the cell's
container lives for the whole session and each test that needs a clean slate gets
its own fresh database inside it (CREATE DATABASE takes milliseconds). The
container is removed at the end even when tests fail (throwaway_database does).

nox picks the test directories that apply to the row (see noxfile.py); a test
that lands on the wrong row fails rather than skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack

import pytest
from helpers import create_database, head_revisions

from devdb.containers.throwaway import ThrowawayDatabase
from devdb.errors import DevDbError
from devdb.images.table import ImageSpec
from devdb.settings import PROJECT_ROOT, Settings

CELL_KEY = pytest.StashKey[list[str]]()


def describe_server(database: ThrowawayDatabase) -> list[str]:
    """What the cell runs on: image, server version, TimescaleDB version."""
    from sqlalchemy import text

    from devdb.database import connect

    with connect(database.settings) as connection:
        version = connection.execute(text("SELECT version()")).scalar()
        timescaledb = connection.execute(
            text(
                "SELECT default_version FROM pg_available_extensions"
                " WHERE name = 'timescaledb'"
            )
        ).scalar()
    licence = server_licence(database.settings) if timescaledb else None
    return [
        f"matrix cell {database.spec.id}: image {database.image_ref}",
        f"  SELECT version(): {version}",
        f"  timescaledb extversion: {timescaledb or 'not available'}"
        + (
            " (what a new database gets, or revision 001 installs)"
            if timescaledb
            else ""
        ),
        f"  timescaledb.license: {licence or 'none'}"
        f" (the image table says {database.spec.licence})",
        f"  database ready after {database.ready_after_seconds:.1f} s",
    ]


def server_licence(settings: Settings) -> str:
    """``SHOW timescaledb.license``, in a database made for it and dropped after.

    The setting belongs to the versioned library, which a session loads only in a
    database that has the extension; the cell's own databases must stay as they are.
    """
    from sqlalchemy import text

    from devdb.database import connect

    with connect(settings, database="postgres") as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.execute(text('CREATE DATABASE "describe_licence"'))
    try:
        with connect(settings, database="describe_licence") as connection:
            # Created from template1, which has it on the official TimescaleDB
            # images and the offline ones; on any other, it is created here.
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
            licence = connection.execute(text("SHOW timescaledb.license")).scalar()
    finally:
        with connect(settings, database="postgres") as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text('DROP DATABASE "describe_licence"'))
    return str(licence)


def announce(config: pytest.Config, lines: list[str]) -> None:
    """Print now (the start of the cell's log) and again in the summary."""
    config.stash[CELL_KEY] = config.stash.get(CELL_KEY, []) + lines
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    # Fixtures run with output captured; the cell's versions belong in the live log.
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for line in lines:
            reporter.write_line(line, bold=True)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(CELL_KEY, [])
    if lines:
        terminalreporter.section("matrix cell")
        for line in lines:
            terminalreporter.write_line(line)


# The ERROR and TIP of each test that failed with the library's own error: a cell
# that fails ends with them, after pytest's summary, so the reason for a red cell
# is in the last lines of a CI log and not a thousand lines above.
FAILURES_KEY = pytest.StashKey[dict[str, str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed and call.excinfo is not None:
        error = call.excinfo.value
        if isinstance(error, DevDbError):
            rendered = error.render()
        else:  # pytest.fail(error.render()) from a test that caught one
            rendered = str(error) if str(error).startswith("ERROR: ") else ""
        lines = rendered.splitlines()
        tip = next((line for line in lines if line.startswith("TIP: ")), None)
        if lines and tip is not None:
            failures = item.config.stash.setdefault(FAILURES_KEY, {})
            failures.setdefault(lines[0], tip)
    return report


def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest's own summary (its last words are written before this hook).
    for error, tip in config.stash.get(FAILURES_KEY, {}).items():
        print(error)
        print(tip)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The init-path container starts in the background; its tests go last so the
    # others run while it comes up.
    items.sort(key=lambda item: "init_path_cell" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def cell_spec(reference_spec: ImageSpec) -> ImageSpec:
    return reference_spec


@pytest.fixture(scope="session")
def _init_path_started(
    request: pytest.FixtureRequest, test_settings, cell_spec
) -> Iterator[Future[ThrowawayDatabase] | None]:
    """Start the init-path container in the background while the cell's starts.

    The two starts are each mostly waiting (initdb, the init SQL, the server
    coming up); overlapping them takes seconds off every cell. Only started when a
    collected test needs it.
    """
    from devdb.containers import engine as containers
    from devdb.containers.throwaway import throwaway_database

    wanted = any(
        "init_path_cell" in item.fixturenames for item in request.session.items
    )
    if not wanted:
        yield None
        return
    stack = ExitStack()
    init_sql_dir = str(PROJECT_ROOT / "db" / "migrations")
    with ThreadPoolExecutor(max_workers=1) as executor:
        started = executor.submit(
            lambda: stack.enter_context(
                throwaway_database(
                    cell_spec,
                    # docker-py clients are not meant to be shared across threads.
                    client=containers.docker_client(),
                    settings=test_settings,
                    init_sql_dir=init_sql_dir,
                )
            )
        )
        try:
            yield started
        finally:
            wait([started])
            stack.close()  # removes the container, whether or not a test used it


@pytest.fixture(scope="session")
def cell(
    request: pytest.FixtureRequest,
    _init_path_started: Future[ThrowawayDatabase] | None,
    database_server: ThrowawayDatabase,
) -> ThrowawayDatabase:
    """The cell's one container (the session's server), announced with its versions.

    The init-path container is asked for first, so it starts in the background
    while this one comes up.
    """
    announce(request.config, describe_server(database_server))
    return database_server


@pytest.fixture(scope="session", autouse=True)
def _announce_cell_first(cell: ThrowawayDatabase) -> None:
    """Start (and print) the cell before the first test, whatever it needs."""


@pytest.fixture
def empty_database(cell: ThrowawayDatabase) -> ThrowawayDatabase:
    """A fresh, empty database in the cell's container, for one test."""
    return create_database(cell, "empty")


@pytest.fixture(scope="session")
def head_database(cell: ThrowawayDatabase) -> ThrowawayDatabase:
    """A database upgraded from empty to head once; tests only read it."""
    from devdb.schema import migrations

    database = create_database(cell, "head")
    migrations.upgrade(database.settings, "head")
    return database


@pytest.fixture(scope="session")
def init_path_cell(
    _init_path_started: Future[ThrowawayDatabase] | None,
) -> ThrowawayDatabase:
    """A second container initialised the docker-compose way: db/migrations/*.sql."""
    assert _init_path_started is not None, "requested, so it was started"
    return _init_path_started.result()


@pytest.fixture(autouse=True)
def _test_belongs_to_row(request: pytest.FixtureRequest, cell_spec: ImageSpec) -> None:
    """Fail (never skip) a test that runs on a row it does not belong to."""
    group = request.node.path.parent.name
    if group not in cell_spec.matrix_test_dirs:
        pytest.fail(
            f"tests/matrix/{group} does not apply to image {cell_spec.id}; run the "
            "matrix through `nox -s migrations`, which picks each row's tests",
            pytrace=False,
        )


# A revision only the full TimescaleDB (tsl/) can run: what a market-data schema grows
# into. TSL rows prove it migrates; the Apache row that it fails naming the licence.
COMPRESSION_REVISION = '''
"""Compress tick_data older than a week (Timescale License features)."""

from alembic import op

revision = "tsl_compress_ticks_9f2c"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE tick_data SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'symbol')"
    )
    op.execute("SELECT add_compression_policy('tick_data', INTERVAL '7 days')")


def downgrade() -> None:
    op.execute("SELECT remove_compression_policy('tick_data')")
    op.execute("ALTER TABLE tick_data SET (timescaledb.compress = false)")
'''


@pytest.fixture
def compression_revision(tmp_path) -> str:
    """A copy of the project's revisions plus COMPRESSION_REVISION; its location."""
    import shutil

    script_location = tmp_path / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "backend" / "alembic",
        script_location,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    [head] = head_revisions()  # on today's head, whatever revisions exist
    (script_location / "versions" / "tsl_compress_ticks_9f2c.py").write_text(
        COMPRESSION_REVISION.format(head=head)
    )
    return str(script_location)
