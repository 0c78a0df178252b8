"""The safety promises on every path: nothing lost without a yes, nothing leaked.

One throwaway TimescaleDB serves the whole module; each test works in a database of
its own inside it (CREATE DATABASE), so the tests stay isolated and fast. The
`invoke` CLI runs for real, with stdin closed: a task that would ask must refuse.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    assert_clean_failure,
    base_environment,
    copy_project,
    first_revision,
    head_revisions,
    ok,
    revision_ids,
    revision_source,
    run_invoke,
)

from devdb.schema.revisions import next_revision_id
from devdb.settings import PROJECT_ROOT, Settings

# What the revisions give today, read from their files: the tests below hold for
# any correct new revision.
FIRST = first_revision()
[HEAD] = head_revisions()
BEYOND = len(revision_ids()) + 4  # more steps than there are revisions

SECRET = "pw-" + secrets.token_hex(6)


def environment(**overrides: str) -> dict[str, str]:
    # Never the developer's dev container, should a task look for one.
    return base_environment(
        **{"DEVDB_CONTAINER_NAME": f"safety-paths-{secrets.token_hex(4)}", **overrides}
    )


def clean_failure(
    result: subprocess.CompletedProcess[str], says: str, *secrets_: str
) -> str:
    """One ERROR line containing ``says``, one TIP, exit != 0, nothing leaked."""
    return assert_clean_failure(result, says, SECRET, *secrets_)


def url(settings: Settings, **changes: str) -> str:
    return (
        settings.url().set(drivername="postgresql", **changes)  # type: ignore[arg-type]
    ).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def throwaway(docker_client, test_settings, reference_spec) -> Iterator:
    """One TimescaleDB for the module; tests create their own databases in it."""
    from devdb.containers.throwaway import throwaway_database

    with throwaway_database(
        reference_spec, client=docker_client, settings=test_settings
    ) as database:
        database.container.reload()
        yield database


@pytest.fixture(scope="module")
def server(throwaway) -> Settings:
    return throwaway.settings


@pytest.fixture(scope="module")
def dev_env(docker_client) -> Iterator[dict[str, str]]:
    """An own dev container (for tasks that manage one), shared by the module."""
    import contextlib

    import docker.errors

    env = environment(DEVDB_PORT="0")
    name = env["DEVDB_CONTAINER_NAME"]
    try:
        ok(run_invoke("db.up", "--no-migrate", env=env))
        yield env
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(f"{name}-data").remove(force=True)


@pytest.fixture
def database(server: Settings) -> Settings:
    """A new, empty database on the module's server."""
    from devdb.database import connect

    name = f"safety_{secrets.token_hex(4)}"
    with connect(server) as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return replace(server, database=name)


def query(settings: Settings, statement: str) -> list[tuple[object, ...]]:
    from sqlalchemy import text

    from devdb.database import connect

    with connect(settings) as connection:
        result = connection.execute(text(statement))
        rows = [tuple(row) for row in result] if result.returns_rows else []
        connection.commit()
        return rows


def revision_of(settings: Settings) -> list[str]:
    from devdb.schema import migrations

    return list(migrations.current(settings))


# --- 1. One guard for everything that can lose data -------------------------------


def test_downgrade_and_redo_keep_rows_without_yes(database: Settings) -> None:
    env = environment(DATABASE_URL=url(database))
    # At the first revision, whose downgrade drops tick_data: rows are at risk.
    ok(run_invoke("db.upgrade", "--revision", FIRST, env=env))
    query(database, "INSERT INTO tick_data VALUES ('A', now(), 1, 1, 'buy')")
    query(database, "INSERT INTO tick_data VALUES ('B', now(), 2, 2, 'sell')")

    for task in (("db.downgrade", "--steps", "1"), ("db.redo",)):
        output = clean_failure(
            run_invoke(*task, env=env), "refusing to", database.password
        )
        # The refusal says what would be lost, and how to go ahead anyway.
        assert "tick_data (2 rows)" in output
        assert "--yes" in output
        assert revision_of(database) == [FIRST]
        assert query(database, "SELECT count(*) FROM tick_data") == [(2,)]

    ok(run_invoke("db.redo", "--yes", env=env))
    assert revision_of(database) == [FIRST]
    assert query(database, "SELECT count(*) FROM tick_data") == [(0,)]
    ok(run_invoke("db.downgrade", "--steps", "1", "--yes", env=env))
    assert revision_of(database) == []


def test_downgrade_of_an_empty_database_needs_no_yes_except_to_base(
    database: Settings,
) -> None:
    env = environment(DATABASE_URL=url(database))
    ok(run_invoke("db.upgrade", "--revision", FIRST, env=env))
    # Undoing the first revision drops every table: asked even with no rows.
    clean_failure(run_invoke("db.redo", env=env), "drops every table")
    assert revision_of(database) == [FIRST]


def answer_on_a_terminal(
    args: tuple[str, ...], answer: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a task with a terminal as stdin, the answer already typed into it."""
    import pty

    main, terminal = pty.openpty()
    try:
        os.write(main, answer.encode() + b"\n")  # the tty buffers it until read
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.close(terminal)
        os.close(main)


def test_on_a_terminal_the_question_names_the_rows_and_no_keeps_them(
    database: Settings,
) -> None:
    env = environment(DATABASE_URL=url(database))
    ok(run_invoke("db.upgrade", "--revision", FIRST, env=env))
    query(database, "INSERT INTO tick_data VALUES ('A', now(), 1, 1, 'buy')")
    refused = answer_on_a_terminal(("db.downgrade", "--steps", "1"), "n", env)
    refused.stdout += "\n"  # the terminal would echo the typed answer's newline
    output = clean_failure(refused, "cancelled: nothing was changed")
    assert "public.tick_data (1 row)" in output and "Continue?" in output
    assert revision_of(database) == [FIRST]
    ok(answer_on_a_terminal(("db.downgrade", "--steps", "1"), "y", env))
    assert revision_of(database) == []


def test_reset_without_yes_names_the_rows_it_would_delete(database: Settings) -> None:
    env = environment(DATABASE_URL=url(database))
    ok(run_invoke("db.upgrade", env=env))
    query(database, "INSERT INTO tick_data VALUES ('A', now(), 1, 1, 'buy')")
    output = clean_failure(run_invoke("db.reset", env=env), "refusing to drop")
    assert "public.tick_data (1 row)" in output
    assert query(database, "SELECT count(*) FROM tick_data") == [(1,)]


@pytest.fixture
def three_revisions(tmp_path: Path, database: Settings) -> Settings:
    """A copy of the revisions plus two on today's head: a table, then an index only.

    Their names, tables and indexes cannot be a real revision's (a developer's own
    revision may well add a `trades` table)."""
    backend = tmp_path / "backend"
    shutil.copytree(PROJECT_ROOT / "backend", backend)
    versions = backend / "alembic" / "versions"
    (versions / "selftest_trades.py").write_text(
        revision_source(
            "selftest_trades",
            HEAD,
            doc="Add trades.",
            upgrade=["CREATE TABLE selftest_trades (id int)"],
            downgrade=["DROP TABLE selftest_trades"],
        )
    )
    (versions / "selftest_index.py").write_text(
        revision_source(
            "selftest_index",
            "selftest_trades",
            doc="Index tick prices.",
            upgrade=["CREATE INDEX idx_selftest_price ON tick_data (price)"],
            downgrade=["DROP INDEX idx_selftest_price"],
        )
    )
    return replace(database, project_root=tmp_path)


def test_the_guard_names_only_the_tables_the_undone_revisions_touch(
    three_revisions: Settings,
) -> None:
    from devdb import safety
    from devdb.errors import DevDbError
    from devdb.schema import migrations

    settings = three_revisions
    migrations.upgrade(settings, "head")
    query(settings, "INSERT INTO selftest_trades VALUES (1), (2), (3)")
    query(settings, "INSERT INTO tick_data VALUES ('A', now(), 1, 1, 'buy')")

    # The index revision only drops an index: no rows at risk, nothing to ask.
    risk = safety.guard_downgrade(settings, "-1", yes=False, force=False)
    assert risk.undone == ("selftest_index",) and risk.tables == ()

    # Down to today's head drops selftest_trades; tick_data is not touched, so not listed.
    risk = safety.data_at_risk(settings, HEAD)
    assert risk.undone == ("selftest_index", "selftest_trades")
    assert risk.tables == (("public.selftest_trades", 3),)
    with pytest.raises(DevDbError) as refused:
        safety.guard_downgrade(settings, HEAD, yes=False, force=False)
    assert "public.selftest_trades (3 rows)" in refused.value.message
    assert "tick_data" not in refused.value.message
    assert revision_of(settings) == ["selftest_index"]

    # A terminal's "no" changes nothing either; "yes" goes ahead.
    with pytest.raises(DevDbError, match="cancelled"):
        safety.confirm_destructive(
            settings, "x", yes=False, force=False, ask=lambda _: False, interactive=True
        )
    safety.downgrade_guarded(settings, HEAD, yes=True, force=False)
    assert revision_of(settings) == [HEAD]


def non_local(settings: Settings, server_ip: str) -> Settings:
    """The same database, reached through the container's bridge address."""
    return replace(settings, host=server_ip, port=5432)


@pytest.fixture(scope="module")
def server_ip(throwaway) -> str:
    """The module's own container's bridge address: its own object, never a
    search through every container on the machine (others come and go)."""
    container = throwaway.container
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"]
    address = next(n["IPAddress"] for n in networks.values() if n["IPAddress"])
    assert not address.startswith("127.")
    return str(address)


def test_a_non_local_address_needs_force_for_every_destructive_task(
    database: Settings, server_ip: str
) -> None:
    remote = non_local(database, server_ip)
    env = environment(DATABASE_URL=url(remote))
    ok(run_invoke("db.upgrade", "--revision", "head", env=env))  # reachable there
    query(database, "INSERT INTO tick_data VALUES ('A', now(), 1, 1, 'buy')")
    for task in (
        ("db.downgrade", "--steps", "1", "--yes"),
        ("db.downgrade", "--revision", "base", "--yes"),
        ("db.redo", "--yes"),
        ("db.reset", "--yes"),
        ("db.stamp", "--revision", "base"),
        ("db.snapshot", "before-x"),
        ("db.restore", "before-x", "--yes"),
        ("db.snapshot", "--drop", "before-x", "--yes"),
    ):
        output = clean_failure(run_invoke(*task, env=env), "not a local database")
        assert server_ip in output and "--force" in output
    assert revision_of(database) == [HEAD]
    assert query(database, "SELECT count(*) FROM tick_data") == [(1,)]
    # DOCKER_HOST naming another machine: db.destroy refuses before reaching it.
    clean_failure(
        run_invoke(
            "db.destroy", "--yes", env=environment(DOCKER_HOST="tcp://192.0.2.9:2375")
        ),
        "not a local Docker engine",
    )

    # --force (and --yes, there is no terminal) goes ahead.
    ok(run_invoke("db.downgrade", "--steps", "1", "--yes", "--force", env=env))
    assert revision_of(database) == ([] if HEAD == FIRST else [revision_ids()[-2]])


def test_non_local_refusal_comes_before_any_connection() -> None:
    # db.invalid never resolves: a connection attempt would say so instead.
    env = environment(DATABASE_URL=f"postgresql://u:{SECRET}@db.invalid:5432/x")
    for task in (
        ("db.downgrade", "--steps", "1", "--yes"),
        ("db.redo", "--yes"),
        ("db.stamp", "--revision", "head"),
        ("db.reset", "--yes"),
        ("db.snapshot",),
        ("db.restore", "--yes"),
        ("db.snapshot", "--drop", "before-x", "--yes"),
    ):
        clean_failure(run_invoke(*task, env=env), "not a local database")


# --- 2. URLs: every parameter kept, no part of a password printed -----------------


def test_sslmode_require_is_honoured_by_every_task(database: Settings) -> None:
    # The test server speaks no TLS: libpq refuses, as it must, instead of
    # falling back to plaintext.
    env = environment(DATABASE_URL=url(database, query={"sslmode": "require"}))
    for task in (("db.upgrade",), ("db.status", "--check"), ("db.check",)):
        output = clean_failure(run_invoke(*task, env=env), "", database.password)
        assert "SSL was required" in output, output
    assert revision_of(database) == []
    # The same URL with sslmode=disable and an options parameter works.
    env = environment(
        DATABASE_URL=url(
            database,
            query={"sslmode": "disable", "options": "-c search_path=public"},
        )
    )
    ok(run_invoke("db.upgrade", "--no-dump", env=env))
    assert revision_of(database) == [HEAD]


def test_a_socket_host_parameter_is_used() -> None:
    env = environment(
        DATABASE_URL=f"postgresql://u:{SECRET}@/x?host=/nonexistent-socket-dir"
    )
    output = clean_failure(run_invoke("db.current", env=env), "no database answers")
    assert "/nonexistent-socket-dir/.s.PGSQL.5432" in output


UNENCODED = "pa@ss-" + secrets.token_hex(4)


def test_an_unencoded_at_in_the_password_is_refused_and_never_printed(
    database: Settings,
) -> None:
    raw = f"postgresql://{database.user}:{UNENCODED}@127.0.0.1:{database.port}/x"
    env = environment(DATABASE_URL=raw)
    for task in (
        ("db.upgrade",),
        ("db.status",),
        ("db.current",),
        ("db.downgrade", "--steps", "1"),
        ("db.reset", "--yes"),
    ):
        output = clean_failure(
            run_invoke(*task, env=env), "not percent-encoded", UNENCODED, "ss-"
        )
        assert "%40" in output
    # The plain alembic CLI (env.py) refuses it the same way.
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "current"],
        cwd=PROJECT_ROOT / "backend",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode != 0
    assert "not percent-encoded" in cli.stdout + cli.stderr
    assert "ss-" not in cli.stdout + cli.stderr


# --- 3. db.revision -m writes the message as data ---------------------------------


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's code and revisions: the real versions/ stays as is."""
    return copy_project(tmp_path)


def test_a_revision_message_cannot_inject_code(project_copy: Path) -> None:
    import ast

    # PYTHONPATH first: the copy's devdb, so the tasks and library agree on where
    # the project is.
    env = environment(PYTHONPATH=str(project_copy))
    message = 'x"""\nimport os\n"""'
    versions = project_copy / "backend" / "alembic" / "versions"
    before = set(versions.glob("*.py"))
    ok(run_invoke("db.revision", "-m", message, env=env, cwd=project_copy))
    written = sorted(set(versions.glob("*.py")) - before)
    new_id = next_revision_id(revision_ids())
    assert [path.name for path in written] == [f"{new_id}_x_import_os.py"]
    source = written[0].read_text(encoding="utf-8")
    tree = ast.parse(source)  # it compiles
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "os" not in imported
    assert imported == {"Sequence", "Union", "op", "sqlalchemy"}
    assert ast.get_docstring(tree, clean=False).splitlines()[0] == 'x""" import os """'
    # db.history reads it back as the message, on one line.
    history = ok(run_invoke("db.history", env=env, cwd=project_copy)).stdout
    assert f'{HEAD} -> {new_id} (head), x""" import os """' in history
    assert not (
        PROJECT_ROOT / "backend" / "alembic" / "versions" / written[0].name
    ).exists()


# --- 4. Every bad input: one ERROR line, one TIP, exit != 0, no traceback ---------

BROKEN_REVISIONS = {
    "a syntax error": (
        f'revision = "selftest_broken"\ndown_revision = "{HEAD}"\ndef upgrade(:\n',
        "SyntaxError",
    ),
    "a failing import": (
        f'revision = "selftest_broken"\ndown_revision = "{HEAD}"\n'
        "import no_such_module_here\n",
        "No module named",
    ),
    "a dangling down_revision": (
        'revision = "selftest_broken"\ndown_revision = "999"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n"
        "    pass\n",
        "'999', which no file defines",
    ),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_REVISIONS))
def test_a_broken_revision_file_is_named_by_every_task(
    broken: str, project_copy: Path, database: Settings, dev_env: dict[str, str]
) -> None:
    source, says = BROKEN_REVISIONS[broken]
    ok(run_invoke("db.upgrade", env=environment(DATABASE_URL=url(database))))
    versions = project_copy / "backend" / "alembic" / "versions"
    (versions / "selftest_broken.py").write_text(source)
    env = environment(PYTHONPATH=str(project_copy), DATABASE_URL=url(database))
    for task in (
        ("db.upgrade", "--no-dump"),
        ("db.upgrade", "--sql"),
        ("db.status",),
        ("db.history",),
        ("db.downgrade", "--steps", "1"),
        ("db.redo",),
    ):
        output = clean_failure(
            run_invoke(*task, env=env, cwd=project_copy), says, database.password
        )
        assert "selftest_broken.py" in output, output
    # db.up manages a dev container, so it runs without DATABASE_URL.
    dev = {**dev_env, "PYTHONPATH": str(project_copy)}
    output = clean_failure(run_invoke("db.up", env=dev, cwd=project_copy), says)
    assert "selftest_broken.py" in output, output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("db.downgrade", "--steps", "abc"), "--steps takes a whole number"),
        (("db.downgrade", "--steps", "0"), "--steps takes a whole number"),
        (("db.up", "--port", "abc"), "--port takes a whole number"),
        (("db.up", "--port", "-5"), "--port takes a whole number"),
        (("db.logs", "--tail", "abc"), "--tail takes a whole number"),
        (
            ("db.upgrade", "--revision", f"{FIRST}+{BEYOND}"),
            "cannot resolve the revision",
        ),
        (("db.upgrade", "--revision", f"base+{BEYOND}"), "cannot resolve the revision"),
        (
            ("db.upgrade", "--sql", "--revision", f"{FIRST}+{BEYOND}"),
            "cannot resolve the revision",
        ),
        (("db.downgrade", "--revision", f"head-{BEYOND}", "--yes"), "Walked too far"),
        (("db.downgrade", "--steps", str(BEYOND), "--yes"), "out of range"),
        (
            ("db.downgrade", "--revision", f"{FIRST}+1", "--yes"),
            "does not take the target",
        ),
    ],
)
def test_bad_options(args: tuple[str, ...], says: str, database: Settings) -> None:
    env = environment(DATABASE_URL=url(database))
    clean_failure(run_invoke(*args, env=env), says, database.password)


@pytest.mark.parametrize(
    ("local_toml", "says"),
    [
        (b"devdb = 5\n", "is not a table"),
        (b"[devdb]\nhost = 5\n", "'host' in devdb.local.toml must be text"),
        (b"[devdb]\nport = 1.9\n", "must be a whole number, got 1.9"),
        (b"\xff\xfe[devdb]\n", "not UTF-8"),
    ],
)
def test_a_bad_local_settings_file(
    local_toml: bytes, says: str, project_copy: Path
) -> None:
    (project_copy / "devdb.local.toml").write_bytes(local_toml)
    env = environment(PYTHONPATH=str(project_copy))
    env.pop("DEVDB_PORT", None)  # the file's value must be the one read
    for task in (("db.status",), ("db.up",)):
        output = clean_failure(run_invoke(*task, env=env, cwd=project_copy), says)
        assert "devdb.local.toml" in output


def test_bad_docker_host_and_container_name() -> None:
    clean_failure(
        run_invoke("db.up", env=environment(DOCKER_HOST="tcp://[::1")), "DOCKER_HOST"
    )
    env = environment()
    env["DEVDB_CONTAINER_NAME"] = "../a/b"
    clean_failure(run_invoke("db.up", env=env), "is not a Docker container name")


def test_an_unwritable_schema_dump_says_the_migration_succeeded(
    project_copy: Path, dev_env: dict[str, str]
) -> None:
    """Writing db/schema.sql fails (it is a directory: root ignores permissions)."""
    env = {**dev_env, "PYTHONPATH": str(project_copy)}
    ok(run_invoke("db.downgrade", "--revision", "base", "--yes", "--no-dump", env=env))
    schema = project_copy / "db" / "schema.sql"
    schema.unlink()
    schema.mkdir()
    output = clean_failure(
        run_invoke("db.upgrade", env=env, cwd=project_copy),
        "the migration succeeded, but writing db/schema.sql failed",
    )
    assert "db.dump-schema" in output
    current = ok(run_invoke("db.current", env=env, cwd=project_copy))
    assert current.stdout.strip() == HEAD


# --- 5. Ways forward that keep data first -----------------------------------------


def add_revision(project: Path, rev: str, down: str, up: str, down_sql: str) -> None:
    versions = project / "backend" / "alembic" / "versions"
    (versions / f"{rev}_test.py").write_text(
        revision_source(
            rev, down, doc=f"Test {rev}.", upgrade=[up], downgrade=[down_sql]
        )
    )


def test_status_check_fails_on_two_heads_or_an_unapplied_one(
    project_copy: Path, database: Settings
) -> None:
    add_revision(
        project_copy, "selftest_a", HEAD, "CREATE TABLE a (id int)", "DROP TABLE a"
    )
    add_revision(
        project_copy, "selftest_b", HEAD, "CREATE TABLE b (id int)", "DROP TABLE b"
    )
    env = environment(PYTHONPATH=str(project_copy), DATABASE_URL=url(database))
    # Two heads: nothing is applied, not even one head named on its own.
    output = clean_failure(
        run_invoke("db.upgrade", "--revision", "selftest_a", env=env, cwd=project_copy),
        "2 heads",
    )
    assert "selftest_a_test.py" in output and "selftest_b_test.py" in output
    assert "selftest_a" not in revision_of(database)
    output = clean_failure(
        run_invoke("db.status", "--check", env=env, cwd=project_copy), "2 heads"
    )
    assert "selftest_b" in output  # both heads are named
    # One head again, not applied: --check still fails, naming it.
    (project_copy / "backend" / "alembic" / "versions" / "selftest_b_test.py").unlink()
    output = clean_failure(
        run_invoke("db.status", "--check", env=env, cwd=project_copy), "pending"
    )
    assert "selftest_a" in output


def test_a_server_gone_mid_migration_blames_the_server(
    project_copy: Path, database: Settings
) -> None:
    # The revision ends its own session: to the client, the server went away.
    add_revision(
        project_copy,
        "selftest_server_gone",
        HEAD,
        "SELECT pg_terminate_backend(pg_backend_pid())",
        "SELECT 1",
    )
    env = environment(PYTHONPATH=str(project_copy), DATABASE_URL=url(database))
    output = clean_failure(
        run_invoke("db.upgrade", env=env, cwd=project_copy),
        "the database server went away during the migration",
        database.password,
    )
    assert "not at fault" in output
    assert revision_of(database) == [HEAD]
