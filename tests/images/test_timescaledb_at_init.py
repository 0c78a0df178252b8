"""What the official timescale/timescaledb image adds to a new cluster, the offline
images add too: the extension in template1, postgres and POSTGRES_DB, and
postgresql.conf tuned for the container (TS_TUNE_*, NO_TS_TUNE). And `--user <uid>`
with PGDATA at the root of a volume that uid owns starts.

The `image`, `docker` and `host_dir` fixtures (tests/images/conftest.py) and the
container helpers (tests/helpers.py) are the image contract's too.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from docker.types import Mount
from helpers import ImageContainers, init_dir_with, query
from sqlalchemy import create_engine, text

from devdb import labels
from devdb.containers import engine as containers
from devdb.images import table as images
from devdb.images.fetch import ensure_image

EXTENSION_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
# initdb's own line and, when tuned, the tuner's: PostgreSQL applies the last.
SHARED_BUFFERS_LINES = (
    "SELECT count(*) FROM pg_file_settings"
    " WHERE name = 'shared_buffers' AND sourcefile LIKE '%postgresql.conf'"
)


# copied: the cluster made when the image was built; initdb: an initdb argument the
# copy was not made with; init-files: the copy and an init file, so the init server
# creates POSTGRES_DB, and the file records what it found there.
@pytest.mark.parametrize("path", ["copied", "initdb", "init-files"])
def test_a_new_cluster_has_timescaledb_in_template1_postgres_and_postgres_db(
    image, docker: ImageContainers, host_dir, test_settings, docker_client, path: str
) -> None:
    _, ref = image
    version = docker_client.images.get(ref).labels[labels.TIMESCALEDB_VERSION]
    environment = {"POSTGRES_DB": "app"}
    volumes = {}
    if path == "initdb":
        environment["POSTGRES_INITDB_ARGS"] = "--no-sync -E UTF8"
    if path == "init-files":
        volumes = init_dir_with(
            host_dir, f"CREATE TABLE seen_at_init AS {EXTENSION_VERSION};"
        )
    started = docker.serve(
        ref, database="app", environment=environment, volumes=volumes
    )
    copied = "a copy of the cluster initdb made" in started.container.logs().decode()
    assert copied == (path != "initdb")
    for database in ("template1", "postgres", "app"):
        in_database = replace(started, database=database)
        assert query(in_database, test_settings, EXTENSION_VERSION) == version, database
    # pg_dump keeps it: the extension is the cluster's own, not a built-in object
    # (db/schema.sql, dumped on the official image, starts with it).
    code, dumped, errors = containers.exec_in(
        started.container,
        ["pg_dump", "--schema-only", "--username", "postgres", "app"],
        {"PGPASSWORD": started.password},
    )
    assert code == 0, errors
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;" in dumped
    if path == "init-files":
        # As in the official image, init files find the extension there already.
        seen = query(started, test_settings, "SELECT extversion FROM seen_at_init")
        assert seen == version
    # A database made later comes from template1, with it.
    engine = create_engine(
        started.settings(test_settings).url(), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE later"))
    finally:
        engine.dispose()
    later = replace(started, database="later")
    assert query(later, test_settings, EXTENSION_VERSION) == version


TUNED = {
    # TS_TUNE_MEMORY=2GB: a quarter for shared buffers, three quarters as cache.
    "shared_buffers": "512MB",
    "effective_cache_size": "1536MB",
    "maintenance_work_mem": "256MB",
    "max_connections": "25",  # 2GB or less
    # TS_TUNE_NUM_CPUS=4: a parallel worker per CPU, half of them per gather, and
    # room for the built-in processes and TimescaleDB's 16 workers.
    "max_parallel_workers": "4",
    "max_parallel_workers_per_gather": "2",
    "max_worker_processes": "23",
    "timescaledb.max_background_workers": "16",
}


def test_ts_tune_memory_and_cpus_tune_postgresql_conf(
    image, docker: ImageContainers, test_settings
) -> None:
    _, ref = image
    started = docker.serve(
        ref, environment={"TS_TUNE_MEMORY": "2GB", "TS_TUNE_NUM_CPUS": "4"}
    )
    shown = {name: query(started, test_settings, f"SHOW {name}") for name in TUNED}
    assert shown == TUNED
    assert query(started, test_settings, SHARED_BUFFERS_LINES) == 2
    assert "tuned postgresql.conf for 2048MB of memory and 4 CPUs" in (
        started.container.logs().decode()
    )


def test_no_ts_tune_leaves_postgresql_conf_as_initdb_wrote_it(
    image, docker: ImageContainers, test_settings
) -> None:
    _, ref = image
    started = docker.serve(
        ref, environment={"NO_TS_TUNE": "1", "TS_TUNE_MEMORY": "2GB"}
    )
    assert query(started, test_settings, SHARED_BUFFERS_LINES) == 1
    assert query(started, test_settings, "SHOW max_connections") != "25"
    assert "tuned" not in started.container.logs().decode()


def test_a_size_the_tuner_cannot_read_is_one_error_and_a_tip(
    image, docker: ImageContainers
) -> None:
    _, ref = image
    code, output = docker.run_to_exit(
        ref, environment={"POSTGRES_PASSWORD": "x", "TS_TUNE_MEMORY": "lots"}
    )
    assert code == 1
    errors = [line for line in output.splitlines() if "ERROR:" in line]
    tips = [line for line in output.splitlines() if "TIP:" in line]
    assert len(errors) == len(tips) == 1, output
    assert "TS_TUNE_MEMORY=lots" in errors[0]


def owned_volume(docker: ImageContainers, ref: str, uid: str) -> str:
    """A new volume whose root ``uid`` owns (chowned at a path the image lacks, so
    ImageContainers copies nothing of the image's into it)."""
    volume = docker.volume()
    code, output = docker.shell(
        ref, f"chown {uid} /owned", volumes={volume: {"bind": "/owned", "mode": "rw"}}
    )
    assert code == 0, output
    return volume


def test_user_1000_with_pgdata_at_the_root_of_a_volume_it_owns_starts(
    image, docker: ImageContainers, test_settings
) -> None:
    spec, ref = image
    volume = owned_volume(docker, ref, "1000:1000")
    # volume-nocopy: ImageContainers would otherwise give the empty volume the owner and
    # mode of the image's directory at this path (next test).
    at_pgdata = Mount(target=spec.pgdata, source=volume, type="volume", no_copy=True)
    started = docker.serve(ref, user="1000:1000", mounts=[at_pgdata])
    assert query(started, test_settings, "SELECT current_user") == "postgres"
    query(started, test_settings, "CREATE TABLE kept AS SELECT 1 AS answer")
    code, output = docker.shell(
        ref, f"stat -c '%u:%g %a' {spec.pgdata}", mounts=[at_pgdata]
    )
    assert (code, output.strip()) == (0, "1000:1000 700")


def test_user_on_a_volume_docker_handed_to_the_image_owner_says_what_to_do(
    image, docker: ImageContainers
) -> None:
    spec, ref = image
    volume = owned_volume(docker, ref, "1000:1000")
    code, output = docker.run_to_exit(
        ref,
        user="1000:1000",
        environment={"POSTGRES_PASSWORD": "x", "PGDATA": spec.volume_path},
        volumes={volume: {"bind": spec.volume_path, "mode": "rw"}},
    )
    assert code == 1
    errors = [line for line in output.splitlines() if "ERROR:" in line]
    tips = [line for line in output.splitlines() if "TIP:" in line]
    assert len(errors) == len(tips) == 1, output
    assert f"{spec.volume_path} belongs to uid 999" in errors[0]
    assert "volume-nocopy" in tips[0]


PLAIN_ROWS = [spec.id for spec in images.IMAGES if spec.timescaledb is None]


@pytest.mark.parametrize("row", PLAIN_ROWS)
def test_a_row_without_timescaledb_adds_neither(
    row: str, docker: ImageContainers, docker_client, test_settings
) -> None:
    # The official postgres image it stands for creates and tunes nothing.
    spec = images.image_spec(row)
    ref = ensure_image(
        docker_client, spec, "offline", mirror=test_settings.debian_mirror
    )
    started = docker.serve(ref, environment={"TS_TUNE_MEMORY": "2GB"})
    for database in ("template1", "postgres"):
        in_database = replace(started, database=database)
        assert query(in_database, test_settings, EXTENSION_VERSION) is None
    assert query(started, test_settings, SHARED_BUFFERS_LINES) == 1
