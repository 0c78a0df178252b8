"""The pytest plugin: a fresh database at the Alembic head for every test.

Installed with the toolkit and registered through the ``pytest11`` entry point,
so a backend's tests only ask for a fixture:

- ``devdb_database``: a clone of its own for each test (``.url``, ``.async_url``,
  ``.name``, ``.safe_url``, ``.settings``);
- ``devdb_module_database`` / ``devdb_session_database``: one per module / per
  session (per pytest-xdist process);
- ``@pytest.mark.devdb_jobs``: the clone's TimescaleDB jobs scheduled again.

A clone whose test passed is dropped; one whose test failed is kept, and the
failure report names it (password hidden) with a way in; the next run removes
it. Each run ends with one line: template built or reused, clones, time.

Settings (command line, else environment, else ini): ``--devdb-server`` /
``devdb_server`` / DEVDB_TEST_SERVER (auto, dev, throwaway, url);
``--devdb-server-url`` / DEVDB_TEST_SERVER_URL (for url);
``--devdb-allow-remote`` / ``devdb_allow_remote`` (a server on another machine);
``devdb_project_root`` (the folder with devdb.toml and backend/alembic, relative
to pytest's rootdir; by default the toolkit's checkout). DATABASE_URL is never
read: it names the application's database, not a server to make test databases on.

Nothing heavy is imported until a fixture is used: every pytest run in the venv
loads this module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from devdb.testdb.clones import TestDatabase, TestDatabases

FIXTURES = ("devdb_database", "devdb_module_database", "devdb_session_database")
STATS_KEY = pytest.StashKey[list[dict[str, Any]]]()
RUN_KEY = pytest.StashKey[tuple[str, int]]()
FAILED_KEY = pytest.StashKey[set[str]]()
SECTION = "devdb database kept"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devdb", "test databases at the Alembic head (devdb)")
    group.addoption(
        "--devdb-server",
        dest="devdb_server",
        default=None,
        help="where test databases live: auto (the dev container, else a "
        "throwaway), dev, throwaway or url",
    )
    group.addoption(
        "--devdb-server-url",
        dest="devdb_server_url",
        default=None,
        help="the server for --devdb-server=url: postgresql://USER:PASSWORD@HOST:"
        "PORT/postgres (or DEVDB_TEST_SERVER_URL)",
    )
    group.addoption(
        "--devdb-allow-remote",
        dest="devdb_allow_remote",
        action="store_true",
        default=None,
        help="allow a server on another machine",
    )
    parser.addini("devdb_server", "where test databases live (see --devdb-server)")
    parser.addini(
        "devdb_allow_remote", "allow a server on another machine", type="bool"
    )
    parser.addini(
        "devdb_project_root",
        "the project folder (devdb.toml, backend/alembic), relative to rootdir",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "devdb_jobs: schedule the TimescaleDB jobs in this test's database "
        "(they are off in test databases)",
    )
    config.stash[STATS_KEY] = []
    config.stash[FAILED_KEY] = set()
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and "devdb_run" in worker_input:
        config.stash[RUN_KEY] = (
            str(worker_input["devdb_run"]),
            int(worker_input["devdb_owner_pid"]),
        )
    else:
        config.stash[RUN_KEY] = (uuid.uuid4().hex, os.getpid())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every process of the run shares the run's id and owner."""
    run_uid, owner_pid = node.config.stash[RUN_KEY]
    node.workerinput["devdb_run"] = run_uid
    node.workerinput["devdb_owner_pid"] = owner_pid


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a process's statistics, for the run's summary."""
    stats = getattr(node, "workeroutput", {}).get("devdb")
    if stats:
        node.config.stash[STATS_KEY].append(stats)


def setting(config: pytest.Config, option: str, environment: str) -> str:
    """The command line's value, else the environment's, else the ini file's."""
    value = (
        config.getoption(option)
        or os.environ.get(environment, "").strip()
        or config.getini(option)
    )
    return str(value or "").strip()


def open_databases(config: pytest.Config) -> TestDatabases:
    from devdb.errors import DevDbError
    from devdb.settings import PROJECT_ROOT, load_settings
    from devdb.testdb.clones import open_test_databases

    run_uid, owner_pid = config.stash[RUN_KEY]
    worker_input = getattr(config, "workerinput", None)
    root = config.getini("devdb_project_root")
    project_root = (config.rootpath / str(root)).resolve() if root else PROJECT_ROOT
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    allow_remote = bool(
        config.getoption("devdb_allow_remote") or config.getini("devdb_allow_remote")
    )
    try:
        settings = load_settings(environ, project_root=Path(project_root))
        return open_test_databases(
            settings,
            where=setting(config, "devdb_server", "DEVDB_TEST_SERVER") or "auto",
            url=str(
                config.getoption("devdb_server_url")
                or os.environ.get("DEVDB_TEST_SERVER_URL", "")
            ),
            allow_remote=allow_remote,
            run_uid=run_uid,
            worker=str(worker_input["workerid"]) if worker_input else "main",
            owner_pid=owner_pid,
        )
    except DevDbError as error:
        pytest.fail(f"devdb_database: {error.render()}", pytrace=False)


@pytest.fixture(scope="session")
def devdb_databases(request: pytest.FixtureRequest) -> Iterator[TestDatabases]:
    """This process's maker of test databases (the template found or built)."""
    databases = open_databases(request.config)
    try:
        yield databases
    finally:
        databases.close()
        record_stats(request.config, databases)


def made(
    request: pytest.FixtureRequest, databases: TestDatabases
) -> Iterator[TestDatabase]:
    """A clone for ``request``'s scope; dropped after, or kept if a test failed."""
    from devdb.errors import DevDbError

    jobs = request.node.get_closest_marker("devdb_jobs") is not None
    try:
        database = databases.create(jobs=jobs)
    except DevDbError as error:
        pytest.fail(f"devdb_database: {error.render()}", pytrace=False)
    yield database
    failed_tests = request.config.stash[FAILED_KEY]
    failed = [test for test in failed_tests if test.startswith(database.name + " ")]
    if failed:
        databases.keep(database, failed[0].partition(" ")[2])
    else:
        databases.drop(database)


@pytest.fixture
def devdb_database(
    request: pytest.FixtureRequest, devdb_databases: TestDatabases
) -> Iterator[TestDatabase]:
    """A database of this test's own at the Alembic head, dropped if it passes."""
    yield from made(request, devdb_databases)


@pytest.fixture(scope="module")
def devdb_module_database(
    request: pytest.FixtureRequest, devdb_databases: TestDatabases
) -> Iterator[TestDatabase]:
    """One database at head shared by this module's tests."""
    yield from made(request, devdb_databases)


@pytest.fixture(scope="session")
def devdb_session_database(
    request: pytest.FixtureRequest, devdb_databases: TestDatabases
) -> Iterator[TestDatabase]:
    """One database at head for the session (per pytest-xdist process)."""
    yield from made(request, devdb_databases)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's databases are kept; its report says where they are."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        for fixture in FIXTURES:
            database = funcargs.get(fixture)
            if database is None or not hasattr(database, "inspect_hint"):
                continue
            item.config.stash[FAILED_KEY].add(f"{database.name} {item.nodeid}")
            report.sections.append(
                (
                    SECTION,
                    f"{database.safe_url}\n  kept until the next test run; "
                    f"look inside: {database.inspect_hint()}",
                )
            )
    return report


def record_stats(config: pytest.Config, databases: TestDatabases) -> None:
    from dataclasses import asdict

    stats = asdict(databases.stats)
    worker_output = getattr(config, "workeroutput", None)
    if worker_output is not None:
        worker_output["devdb"] = stats
    else:
        config.stash[STATS_KEY].append(stats)


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's throwaway server goes, unless a failed test's database is kept."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    stats = config.stash.get(STATS_KEY, [])
    if any(s["kind"] == "throwaway" for s in stats) and not any(
        s["kept"] for s in stats
    ):
        from devdb.errors import DevDbError
        from devdb.testdb.server import remove_throwaway

        try:
            remove_throwaway(config.stash[RUN_KEY][0])
        except DevDbError as error:
            config.stash[STATS_KEY].append({"warning": error.message})


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from devdb.testdb.report import summary_line

    line = summary_line(config.stash.get(STATS_KEY, []))
    if line:
        terminalreporter.write_line(line)
