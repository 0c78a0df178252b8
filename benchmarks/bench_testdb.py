"""How fast are test databases and dev snapshots? Template, clones, drops, snapshots.

    python benchmarks/bench_testdb.py [--server throwaway|dev] [--clones 200]
        [--profile week] [--no-snapshots]

On a throwaway container of the configured image (tmpfs data, removed after) or
on the running dev container (``--server dev``: its template and clones, never the
dev database), prints: the template build (or its recorded build time when it
already existed), clone and drop p50/p95 over ``--clones`` clones, and
``alembic upgrade head`` on an empty database in the same run, with the ratio
(targets: clone p50 <= 40 ms, p95 <= 100 ms, >= 20x faster than the upgrade).
Then a database seeded with ``--profile``: ``db.snapshot`` and ``db.restore`` of
it beside ``cp -a`` of its files in the same container. Timings print; no test
asserts them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devdb import snapshots  # noqa: E402
from devdb.containers import engine as containers  # noqa: E402
from devdb.database import quote_identifier  # noqa: E402
from devdb.schema import migrations  # noqa: E402
from devdb.seed import load as seeding  # noqa: E402
from devdb.seed import market_data  # noqa: E402
from devdb.settings import load_settings  # noqa: E402
from devdb.testdb import server as servers  # noqa: E402
from devdb.testdb.clones import TestDatabases, open_test_databases  # noqa: E402
from devdb.testdb.report import percentile  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def clones_and_drops(databases: TestDatabases, count: int) -> tuple[float, float]:
    for _ in range(count):
        databases.drop(databases.create())
    made, dropped = databases.stats.clone_seconds, databases.stats.drop_seconds
    print(
        f"clone ({count}): p50 {ms(statistics.median(made))}, "
        f"p95 {ms(percentile(made, 0.95))}, max {ms(max(made))}"
    )
    print(
        f"drop ({count}):  p50 {ms(statistics.median(dropped))}, "
        f"p95 {ms(percentile(dropped, 0.95))}"
    )
    return statistics.median(made), percentile(made, 0.95)


def upgrade_on_empty(databases: TestDatabases, runs: int) -> tuple[float, float]:
    """`alembic upgrade head` on a new empty database, the median of ``runs``:
    the command (a process, as a test suite runs it) and in-process (warm)."""
    import subprocess

    command, in_process = [], []
    cursor = databases.cursor
    alembic = Path(sys.executable).parent / "alembic"
    for run in range(runs * 2):
        name = f"bench_empty_{os.getpid()}_{run}"
        cursor.execute(f"CREATE DATABASE {quote_identifier(name)} TEMPLATE template0")
        target = replace(databases.server.settings, database=name)
        started = time.perf_counter()
        if run % 2 == 0:
            url = target.url().render_as_string(hide_password=False)
            subprocess.run(
                [str(alembic), "upgrade", "head"],
                cwd=ROOT / "backend",
                env={**os.environ, "DATABASE_URL": url},
                check=True,
                capture_output=True,
            )
            command.append(time.perf_counter() - started)
        else:
            migrations.upgrade(target, "head")
            in_process.append(time.perf_counter() - started)
        cursor.execute(f"DROP DATABASE {quote_identifier(name)} WITH (FORCE)")
    print(
        f"alembic upgrade head on an empty database ({runs} runs each): "
        f"{ms(statistics.median(command))} (the command), "
        f"{ms(statistics.median(in_process))} (in-process, imports warm)"
    )
    return statistics.median(command), statistics.median(in_process)


def files_copy_seconds(databases: TestDatabases, name: str) -> float:
    """`cp -a` of the database's directory, inside its container, same filesystem."""
    client = containers.docker_client()
    container = client.containers.get(str(databases.server.container_name))
    cursor = databases.cursor
    cursor.execute("CHECKPOINT")
    cursor.execute(
        "SELECT current_setting('data_directory'), oid FROM pg_database"
        " WHERE datname = %s",
        (name,),
    )
    data_directory, oid = cursor.fetchone()
    source = f"{data_directory}/base/{oid}"
    copy = f"{data_directory}/bench-copy-{oid}"
    script = (
        f"start=$(date +%s%N); cp -a {source} {copy}; end=$(date +%s%N); "
        f"rm -rf {copy}; echo $(( (end - start) / 1000 ))"
    )
    code, out, err = containers.exec_in(container, ["sh", "-c", script])
    if code != 0:
        raise SystemExit(f"cp -a failed: {err.strip()}")
    return int(out.strip()) / 1e6


def snapshot_and_restore(databases: TestDatabases, profile: str) -> None:
    made = databases.create()
    target = replace(made.settings, exact_target=True)
    result = seeding.seed_database(target, profile=profile, yes=True)
    cursor = databases.cursor
    cursor.execute("SELECT pg_database_size(%s)", (made.name,))
    size = cursor.fetchone()[0] / 2**20
    print(f"seeded '{profile}': {result.total_rows:,} rows, {size:,.0f} MB")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        started = time.perf_counter()
        snapshots.snapshot(target, name)
        print(f"db.snapshot: {time.perf_counter() - started:.2f} s")
        restored = snapshots.restore(target, name, yes=True, force=False)
        print(f"db.restore:  {restored.seconds:.2f} s (the copy aside and the swap)")
        print(f"cp -a of its files: {files_copy_seconds(databases, made.name):.2f} s")
    finally:
        snapshots.drop_snapshot(target, name, yes=True, force=False)
        databases.drop(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("throwaway", "dev"), default="throwaway")
    parser.add_argument("--clones", type=int, default=200)
    parser.add_argument("--upgrades", type=int, default=3)
    parser.add_argument(
        "--profile", default="week", choices=sorted(market_data.PROFILES)
    )
    parser.add_argument("--no-snapshots", action="store_true")
    options = parser.parse_args()

    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    settings = load_settings(environ)
    run_uid = uuid.uuid4().hex
    started = time.perf_counter()
    databases = open_test_databases(
        settings, where=options.server, run_uid=run_uid, owner_pid=os.getpid()
    )
    try:
        opened = time.perf_counter() - started
        template = databases.template
        print(f"server: {databases.server.description}")
        if template.built:
            print(f"template build: {template.seconds:.2f} s ({template.name})")
        else:
            print(
                f"template build: {template.record.build_seconds:.2f} s when built; "
                f"reused here ({template.name}, found in {ms(opened)})"
            )
        p50, p95 = clones_and_drops(databases, options.clones)
        command, in_process = upgrade_on_empty(databases, options.upgrades)
        print(
            f"ratio: a clone (p50) is {command / p50:.0f}x faster than the command, "
            f"{in_process / p50:.0f}x than the in-process upgrade (targets: p50 <= "
            f"40 ms, p95 <= 100 ms, >= 20x; here {ms(p50)}, {ms(p95)})"
        )
        if not options.no_snapshots:
            snapshot_and_restore(databases, options.profile)
    finally:
        databases.close()
        if databases.server.kind == "throwaway":
            servers.remove_throwaway(run_uid)


if __name__ == "__main__":
    main()
