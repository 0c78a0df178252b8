"""Helpers every test directory shares: the invoke CLI, ports, and what head holds.

Fixtures live in conftest.py; plain functions and constants live here, so no test
module imports another. Expectations about "head" are read from the revision files
and the committed db/schema.sql, never written down as today's revisions: the
suite must stay green after any correct new revision.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, text

from devdb import labels
from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.database import connect, quote_identifier
from devdb.images import table as images_table
from devdb.schema import revisions
from devdb.settings import PROJECT_ROOT

INVOKE = [sys.executable, "-m", "invoke"]
SCRIPT_LOCATION = PROJECT_ROOT / "backend" / "alembic"
SCHEMA_FILE = PROJECT_ROOT / "db" / "schema.sql"

# The seed plan's five hypertables: a lower bound wherever the plan is what is
# tested (later revisions may add tables, never take these away silently).
SEED_HYPERTABLES = frozenset(
    {"tick_data", "candles_1m", "foreign_flow", "index_snapshots", "derivatives"}
)


# --- the revisions and the committed contract -------------------------------------


def revision_ids(script_location: Path = SCRIPT_LOCATION) -> list[str]:
    """Every revision id, oldest first, from the revision files (of this checkout,
    or of the Alembic directory given: a clone holds only what was committed)."""
    return [info.revision for info in revisions.history(script_location)]


def head_revisions() -> tuple[str, ...]:
    return tuple(revisions.heads(SCRIPT_LOCATION))


def first_revision() -> str:
    return revision_ids()[0]


def copy_project(target: Path) -> Path:
    """The project's code, revisions and settings copied to ``target`` (a test
    changes the copy's revisions; the checkout's stay as they are)."""
    for part in ("tasks", "devdb", "backend", "db"):
        shutil.copytree(
            PROJECT_ROOT / part,
            target / part,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(PROJECT_ROOT / "devdb.toml", target / "devdb.toml")
    return target


def revision_source(
    revision: str,
    down_revision: str,
    *,
    doc: str,
    upgrade: list[str],
    downgrade: list[str],
) -> str:
    """A raw-SQL revision file's text: one ``op.execute`` per statement, as the
    project's template writes them."""

    def body(sql: list[str]) -> str:
        return "\n".join(f'    op.execute("""{statement}""")' for statement in sql)

    return (
        f'"""{doc}"""\n\nfrom alembic import op\n\n'
        f'revision = "{revision}"\ndown_revision = "{down_revision}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body(upgrade)}\n\n\n"
        f"def downgrade() -> None:\n{body(downgrade)}\n"
    )


MANIFEST_DIMENSION = re.compile(
    r"^-- hypertable public\.(?P<table>\w+).*\n--   dimension 1: (?P<column>\w+) ",
    re.MULTILINE,
)
CREATE_TABLE = re.compile(r"^CREATE TABLE public\.(\w+) \(", re.MULTILINE)


def committed_hypertables() -> dict[str, str]:
    """Hypertable -> its first (time) dimension's column, from db/schema.sql."""
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    return {m["table"]: m["column"] for m in MANIFEST_DIMENSION.finditer(text)}


def committed_dimensions() -> set[tuple[str, str, str]]:
    """(hypertable, column, "time"/"space") for every dimension in db/schema.sql."""
    dimensions: set[tuple[str, str, str]] = set()
    table = ""
    for line in SCHEMA_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("-- hypertable public."):
            table = line.split()[2].removeprefix("public.")
        elif line.startswith("--   dimension ") and table:
            column, _, rest = line.split(": ", 1)[1].partition(" (")
            kind = rest.split("), ", 1)[1].split(",", 1)[0]
            dimensions.add((table, column, kind))
    return dimensions


def committed_tables() -> set[str]:
    """Every table of the public schema at head, from db/schema.sql."""
    return set(CREATE_TABLE.findall(SCHEMA_FILE.read_text(encoding="utf-8")))


def migration_lock_key() -> int:
    """The advisory-lock key env.py takes (read from it: one source of truth)."""
    text = (SCRIPT_LOCATION / "env.py").read_text(encoding="utf-8")
    match = re.search(r"^MIGRATION_LOCK_KEY = (\d+)", text, re.MULTILINE)
    assert match, "backend/alembic/env.py no longer defines MIGRATION_LOCK_KEY"
    return int(match.group(1))


# --- the invoke CLI ----------------------------------------------------------------


def base_environment(**overrides: str) -> dict[str, str]:
    """The caller's environment without DATABASE_URL, for the offline images."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.setdefault("DEVDB_IMAGE_SOURCE", "offline")
    environ.setdefault("DEVDB_READY_TIMEOUT", "90")
    # Output is asserted on: progress lines, never the streamed build logs.
    environ.pop("DEVDB_VERBOSE", None)
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(overrides)
    return environ


def run_invoke(
    *args: str, env: dict[str, str], cwd: Path = PROJECT_ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INVOKE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,  # no terminal: destructive tasks must not hang
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def sql(env: dict[str, str], statement: str) -> str:
    """Run SQL through `invoke db.psql -c` (psql inside the container)."""
    return ok(run_invoke("db.psql", "-c", statement, env=env)).stdout


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], says: str, *secrets: str
) -> str:
    """One ERROR line saying ``says``, one TIP, exit != 0, no traceback or secret.

    Returns the whole output, for what else a test wants to find in it.
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    error_lines = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    tip_lines = [line for line in output.splitlines() if line.startswith("TIP: ")]
    assert len(error_lines) == 1, output
    assert len(tip_lines) == 1, output
    assert says in error_lines[0], output
    assert "Traceback" not in output
    for secret in secrets:
        assert secret not in output
    return output


# --- Docker ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def remove_container_and_volume(client: Any, name: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True, v=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(f"{name}-data").remove(force=True)


Server = TypeVar("Server")
_database_numbers = itertools.count(1)


def create_database(server: Server, prefix: str) -> Server:
    """A new empty database on ``server`` (anything with ``.settings``), aimed at.

    Returns a copy of ``server`` whose settings name the new database, so tests
    use it exactly as a server of its own.
    """
    settings = server.settings  # type: ignore[attr-defined]
    name = f"{prefix}_{next(_database_numbers)}"
    with connect(settings, "postgres") as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f"CREATE DATABASE {quote_identifier(name)}"
        )
    return replace(server, settings=replace(settings, database=name))  # type: ignore[type-var]


# --- a team's revisions (tests/walkthrough) -----------------------------------------

# What each person's revision does. Self-test names: a real revision may well add
# a `trades` table or an `exchange` column, and must not collide with these.
THEIR_HYPERTABLE = '''
def upgrade() -> None:
    op.execute("""
        CREATE TABLE selftest_trades (
            symbol     VARCHAR(10) NOT NULL,
            timestamp  TIMESTAMPTZ NOT NULL,
            price      NUMERIC(12, 2) NOT NULL
        )
    """)
    op.execute("SELECT create_hypertable('selftest_trades', by_range('timestamp'))")


def downgrade() -> None:
    op.execute("DROP TABLE selftest_trades")
'''
MY_COLUMN_AND_TABLE = '''
def upgrade() -> None:
    op.execute("ALTER TABLE tick_data ADD COLUMN selftest_exchange VARCHAR(10)")
    op.execute("""
        CREATE TABLE selftest_exchange_notes (
            exchange VARCHAR(10) PRIMARY KEY,
            note     TEXT NOT NULL
        )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE selftest_exchange_notes")
    op.execute("ALTER TABLE tick_data DROP COLUMN selftest_exchange")
'''
MY_SECOND = """
def upgrade() -> None:
    op.execute("ALTER TABLE selftest_exchange_notes ADD COLUMN venue TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE selftest_exchange_notes DROP COLUMN venue")
"""


# --- a revision that uses TimescaleDB for real -----------------------------------

# A fixture revision (never a product one) for the TSL rows and the test databases:
# a continuous aggregate WITH DATA in an autocommit_block() with its refresh
# policy, compression with a compression policy, and a retention policy.
FEATURES_REVISION_ID = "selftest_timescaledb_features"
FEATURES_REVISION = '''
"""Candles over ticks as a continuous aggregate; compressed, retained ticks."""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE tick_data SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'symbol')"
    )
    op.execute("SELECT add_compression_policy('tick_data', INTERVAL '7 days')")
    op.execute("SELECT add_retention_policy('tick_data', INTERVAL '90 days')")
    # WITH DATA cannot run inside a transaction block (25001): step out of it.
    with op.get_context().autocommit_block():
        op.execute("""
            CREATE MATERIALIZED VIEW selftest_candles_5m
            WITH (timescaledb.continuous) AS
            SELECT time_bucket(INTERVAL '5 minutes', timestamp) AS bucket,
                   symbol,
                   first(price, timestamp) AS open,
                   max(price) AS high,
                   min(price) AS low,
                   last(price, timestamp) AS close,
                   sum(volume) AS volume
              FROM tick_data
             GROUP BY bucket, symbol
            WITH DATA
        """)
    op.execute(
        "SELECT add_continuous_aggregate_policy('selftest_candles_5m',"
        " start_offset => INTERVAL '1 day', end_offset => INTERVAL '5 minutes',"
        " schedule_interval => INTERVAL '5 minutes')"
    )


def downgrade() -> None:
    op.execute("SELECT remove_continuous_aggregate_policy('selftest_candles_5m')")
    op.execute("DROP MATERIALIZED VIEW selftest_candles_5m")
    op.execute("SELECT remove_retention_policy('tick_data')")
    op.execute("SELECT remove_compression_policy('tick_data')")
    op.execute("SELECT decompress_chunk(c, true) FROM show_chunks('tick_data') c")
    op.execute("ALTER TABLE tick_data SET (timescaledb.compress = false)")
'''


# --- test databases ----------------------------------------------------------------


def server_url(settings: Any, database: str = "postgres", **query: str) -> str:
    """A libpq URL (password included) of ``database`` on ``settings``' server."""
    url = settings.url(database).set(drivername="postgresql")
    if query:
        url = url.update_query_dict(query)
    return url.render_as_string(hide_password=False)


def run_pytest(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """pytest in its own process, as a backend's suite runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def devdb_summary(output: str) -> str:
    """The test databases' one-line summary of a pytest run."""
    lines = [line for line in output.splitlines() if line.startswith("devdb: template")]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


# --- the images' contract (tests/images) ------------------------------------------

TIMESCALEDB_IMAGES = [spec for spec in images_table.IMAGES if spec.timescaledb]
# A run-to-exit container (--version, a passthrough command, an init container) is
# done within seconds; the bound only turns a hang into a failure.
EXIT_TIMEOUT = 120


@dataclass
class Started:
    container: object
    port: int
    user: str
    password: str
    database: str

    def settings(self, base):
        return replace(
            base,
            host=base.engine_address,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            exact_target=True,
        )


class ImageContainers:
    """Creates labelled containers and volumes for one test; removes them after."""

    def __init__(self, client, test_settings) -> None:
        self.client = client
        self.test_settings = test_settings
        self.containers: list = []
        self.volumes: list[str] = []
        # Loopback for a local engine; the engine's host for a remote one.
        self.address = containers.publish_address(test_settings)

    def volume(self) -> str:
        name = f"devdb-test-contract-{secrets.token_hex(4)}"
        self.client.volumes.create(name, labels={labels.PROJECT: labels.PROJECT_NAME})
        self.volumes.append(name)
        return name

    def create(self, image_ref: str, **options):
        options.setdefault("labels", {})
        options["labels"].update(
            {labels.PROJECT: labels.PROJECT_NAME, labels.ROLE: labels.ROLE_TEST}
        )
        container = self.client.containers.create(image_ref, detach=True, **options)
        self.containers.append(container)
        return container

    def run_to_exit(self, image_ref: str, **options) -> tuple[int, str]:
        """Run a container to its end: (exit code, its output)."""
        container = self.create(image_ref, **options)
        container.start()
        status = container.wait(timeout=EXIT_TIMEOUT)
        return status["StatusCode"], container.logs().decode("utf-8", "replace")

    def serve(
        self,
        image_ref: str,
        *,
        db_user: str = "postgres",
        password: str | None = None,
        database: str | None = None,
        container_port: int = 5432,
        **options,
    ) -> Started:
        """Start a server and wait until a query over TCP succeeds."""
        password = secrets.token_urlsafe(12) if password is None else password
        environment = {"POSTGRES_PASSWORD": password, **options.pop("environment", {})}
        container = self.create(
            image_ref,
            environment=environment,
            ports={f"{container_port}/tcp": (self.address, None)},
            **options,
        )
        container.start()
        return self.ready(
            container, db_user, password, database or db_user, container_port
        )

    def ready(
        self,
        container,
        user: str,
        password: str,
        database: str,
        container_port: int = 5432,
    ) -> Started:
        container.reload()
        port = int(
            container.attrs["NetworkSettings"]["Ports"][f"{container_port}/tcp"][0][
                "HostPort"
            ]
        )
        readiness.wait_until_ready(
            container,
            port=port,
            user=user,
            password=password,
            database=database,
            timeout=self.test_settings.ready_timeout,
            host=self.test_settings.engine_address,
        )
        return Started(container, port, user, password, database)

    def shell(self, image_ref: str, script: str, **options) -> tuple[int, str]:
        """A shell command in the image as root: the entrypoint passes it through."""
        return self.run_to_exit(image_ref, command=["bash", "-c", script], **options)

    def cleanup(self) -> None:
        for container in self.containers:
            containers.remove(container)
        for name in self.volumes:
            self.client.volumes.get(name).remove(force=True)


def query(started: Started, base, sql: str):
    engine = create_engine(started.settings(base).url())
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    path.chmod(mode)


def mount(directory: Path, target: str = "/docker-entrypoint-initdb.d") -> dict:
    return {str(directory): {"bind": target, "mode": "ro"}}


def init_dir_with(directory: Path, sql: str) -> dict:
    """An init directory with one SQL file: makes the entrypoint use its init server."""
    write(directory / "init.sql", sql)
    return mount(directory)
