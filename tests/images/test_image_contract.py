"""The offline images keep the official postgres image's contract, item by item.

Each test runs the offline TimescaleDB images in real containers, as a user who
follows the official image's documentation would: environment variables, secret
files, init files, volumes, `--user`, other commands. The official entrypoint's
documented behaviour is the reference; where an item is left out on purpose (JIT),
the README's Images section says so.
"""

from __future__ import annotations

import gzip
import lzma
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import TIMESCALEDB_IMAGES, Started, init_dir_with, mount, query, write

from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.settings import PROJECT_ROOT

OLD_LAYOUT = "/var/lib/postgresql/data"


# --- users, directories, volumes -------------------------------------------------


def test_postgres_is_uid_gid_999_and_directories_have_the_official_modes(
    image, docker
) -> None:
    spec, ref = image
    code, output = docker.shell(
        ref,
        "id -u postgres; id -g postgres; "
        f"stat -c '%a %U:%G' /var/run/postgresql {spec.volume_path}",
    )
    assert code == 0, output
    assert output.split("\n")[:4] == [
        "999",
        "999",
        "3777 postgres:postgres",
        "1777 postgres:postgres",
    ]


def test_a_volume_made_as_uid_999_or_owned_by_another_uid_starts_with_its_rows(
    image, docker, test_settings
) -> None:
    spec, ref = image
    volume = docker.volume()
    data = {volume: {"bind": spec.volume_path, "mode": "rw"}}
    # The official image's postgres is uid 999: initialise as that uid.
    first = docker.serve(ref, volumes=data, user="999:999")
    query(first, test_settings, "CREATE TABLE kept AS SELECT 42 AS answer")
    containers.stop(first.container)
    # An older offline build's postgres was uid 100: every file owned by it must be
    # handed over, not only the data directory itself.
    code, output = docker.shell(ref, f"chown -R 100:102 {spec.pgdata}", volumes=data)
    assert code == 0, output

    second = docker.serve(ref, password=first.password, volumes=data)
    assert query(second, test_settings, "SELECT answer FROM kept") == 42
    code, output = docker.shell(
        ref, f"find {spec.pgdata} ! -user postgres | wc -l", volumes=data
    )
    assert (code, output.strip()) == (0, "0")


# What initdb decides, read back from a running server: roles (the bootstrap
# superuser's name, OID and a SCRAM password), databases with their owners and
# locales, every setting, the catalogs' sizes and the configuration files.
CLUSTER_FACTS = {
    "roles": "SELECT string_agg(concat_ws(' ', oid, rolname, rolsuper, rolcanlogin,"
    " rolreplication, rolbypassrls, left(rolpassword, 14)), E'\\n' ORDER BY oid)"
    " FROM pg_authid",
    "databases": "SELECT string_agg(concat_ws(' ', datname, pg_get_userbyid(datdba),"
    " pg_encoding_to_char(encoding), datlocprovider, datcollate, datctype,"
    " datistemplate, datallowconn), E'\\n' ORDER BY datname) FROM pg_database",
    "settings": "SELECT string_agg(name || '=' || setting, E'\\n' ORDER BY name)"
    " FROM pg_settings",
    "catalogs": "SELECT concat_ws(' ', (SELECT count(*) FROM pg_collation),"
    " (SELECT count(*) FROM pg_proc), (SELECT count(*) FROM pg_class),"
    " (SELECT count(*) FROM pg_ts_config), (SELECT count(*) FROM pg_extension))",
    "postgresql.conf": "SELECT pg_read_file('postgresql.conf')",
    "pg_hba.conf": "SELECT pg_read_file('pg_hba.conf')",
    "pg_ident.conf": "SELECT pg_read_file('pg_ident.conf')",
}


def test_a_copied_cluster_is_the_cluster_initdb_makes(
    image, docker, test_settings
) -> None:
    """The image's build-time cluster, copied and adopted, equals a fresh initdb."""
    _, ref = image
    password = secrets.token_urlsafe(12)
    # Names that need quoting. (No quote in the user's: PostgreSQL refuses one in
    # the bootstrap superuser's name, and the copied cluster must refuse it too.)
    settings_of = {"POSTGRES_USER": "Market Owner", "POSTGRES_DB": 'market "data"'}
    copied = docker.serve(
        ref,
        db_user=settings_of["POSTGRES_USER"],
        password=password,
        database=settings_of["POSTGRES_DB"],
        environment={**settings_of, "POSTGRES_INITDB_ARGS": "--no-sync"},
    )
    # An initdb argument the template was not made with (here one that changes
    # nothing): the entrypoint runs initdb itself.
    made = docker.serve(
        ref,
        db_user=settings_of["POSTGRES_USER"],
        password=password,
        database=settings_of["POSTGRES_DB"],
        environment={**settings_of, "POSTGRES_INITDB_ARGS": "--no-sync -E UTF8"},
    )
    assert "a copy of the cluster initdb made" in copied.container.logs().decode()
    assert "a copy of the cluster initdb made" not in made.container.logs().decode()
    assert password not in copied.container.logs().decode()
    for fact, sql in CLUSTER_FACTS.items():
        assert query(copied, test_settings, sql) == query(made, test_settings, sql), (
            fact
        )
    wrong = replace(copied, password=password + "x")
    with pytest.raises(Exception, match="password authentication failed"):
        query(wrong, test_settings, "SELECT 1")
    # A name initdb refuses is refused the same way, template or not.
    code, output = docker.run_to_exit(
        ref,
        environment={
            "POSTGRES_USER": "o'neil",
            "POSTGRES_PASSWORD": password,
            "POSTGRES_INITDB_ARGS": "--no-sync",
        },
    )
    assert code != 0 and "invalid character" in output, output


# pg_controldata, field by field. Two fields initdb draws afresh for every
# cluster: they must differ between any two (backup, replication and pg_rewind
# tell clusters apart by the identifier; the nonce hides which roles exist).
MUST_DIFFER = ("Database system identifier", "Mock authentication nonce")
# How far a cluster's life has gone: when, and where in its WAL, it last wrote a
# checkpoint (a copy adopted in a single-user backend and a fresh initdb get
# there by different statements). Every other field is how the cluster was made,
# and must be what initdb makes.
LIFE_SO_FAR = (
    "pg_control last modified",
    "Time of latest checkpoint",
    "Latest checkpoint location",
    "Latest checkpoint's REDO location",
    "Latest checkpoint's REDO WAL file",
    "Latest checkpoint's NextXID",
    "Latest checkpoint's NextOID",
    "Latest checkpoint's NextMultiXactId",
    "Latest checkpoint's NextMultiOffset",
    "Latest checkpoint's oldestXID",
    "Latest checkpoint's oldestActiveXID",
    "Minimum recovery ending location",
)


def control_data(output: str) -> dict[str, str]:
    fields = {}
    for line in output.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    assert "Database system identifier" in fields, output
    return fields


def running_control_data(started: Started) -> dict[str, str]:
    result = started.container.exec_run(["pg_controldata"], user="postgres")
    assert result.exit_code == 0, result.output
    return control_data(result.output.decode())


def test_every_cluster_is_its_own(image, docker) -> None:
    """Two copies of the image's cluster and a real initdb: each has its own
    identity, and in every other field but its life so far the copies are initdb's."""
    _, ref = image
    copies = [
        docker.serve(ref, environment={"POSTGRES_INITDB_ARGS": args})
        for args in ("--no-sync", "")  # the dev container's, and the plain one
    ]
    made = docker.serve(ref, environment={"POSTGRES_INITDB_ARGS": "--no-sync -E UTF8"})
    for copy in copies:
        assert "a copy of the cluster initdb made" in copy.container.logs().decode()
    assert "a copy of the cluster initdb made" not in made.container.logs().decode()
    code, output = docker.shell(
        ref,
        "d=$(mktemp -d) && tar -C $d --zstd -xf /usr/local/share/devdb/cluster.tar.zst"
        " && pg_controldata $d",
    )
    assert code == 0, output
    template = control_data(output)
    clusters = [
        *(running_control_data(copy) for copy in copies),
        running_control_data(made),
    ]
    for field in MUST_DIFFER:
        values = [template[field]] + [cluster[field] for cluster in clusters]
        assert len(set(values)) == len(values), (field, values)
    initdb = clusters[-1]
    for cluster in clusters[:-1]:
        assert set(cluster) == set(initdb)
        differing = sorted(
            field
            for field in initdb
            if field not in (*MUST_DIFFER, *LIFE_SO_FAR)
            and cluster[field] != initdb[field]
        )
        assert differing == [], {f: (cluster[f], initdb[f]) for f in differing}


def test_any_uid_initialises_a_fresh_volume(image, docker, test_settings) -> None:
    spec, ref = image
    volume = docker.volume()
    data = {volume: {"bind": spec.volume_path, "mode": "rw"}}
    # Up to 17 the volume is PGDATA itself, which another uid cannot chmod 0700:
    # the official documentation ("Arbitrary --user Notes") puts PGDATA in a
    # subdirectory then. From 18, PGDATA already is one.
    pgdata = spec.pgdata if spec.postgres_major >= 18 else f"{OLD_LAYOUT}/pgdata"
    started = docker.serve(
        ref, volumes=data, user="12345:12345", environment={"PGDATA": pgdata}
    )
    assert query(started, test_settings, "SELECT current_user") == "postgres"
    code, output = docker.shell(ref, f"stat -c '%u %a' {pgdata}", volumes=data)
    assert (code, output.strip()) == (0, "12345 700")


def test_data_lives_where_the_official_image_keeps_it(image, docker) -> None:
    spec, ref = image
    volume = docker.volume()
    data = {volume: {"bind": spec.volume_path, "mode": "rw"}}
    code, output = docker.run_to_exit(
        ref,
        entrypoint=["docker-ensure-initdb.sh"],
        environment={"POSTGRES_PASSWORD": "x"},
        volumes=data,
    )
    assert code == 0, output
    expected = (
        f"/var/lib/postgresql/{spec.postgres_major}/docker"
        if spec.postgres_major >= 18
        else OLD_LAYOUT
    )
    assert spec.pgdata == expected
    code, output = docker.shell(
        ref, f"cat {expected}/PG_VERSION", volumes={volume: {"bind": spec.volume_path}}
    )
    assert (code, output.strip()) == (0, str(spec.postgres_major))


PG18_IMAGES = [spec.id for spec in TIMESCALEDB_IMAGES if spec.postgres_major >= 18]


@pytest.mark.parametrize("image", PG18_IMAGES, indirect=True)
@pytest.mark.parametrize("holds_cluster", [True, False], ids=["cluster", "empty"])
def test_pg18_refuses_a_volume_at_the_old_path(image, docker, holds_cluster) -> None:
    spec, ref = image
    volume = docker.volume()
    old = {volume: {"bind": OLD_LAYOUT, "mode": "rw"}}
    if holds_cluster:
        code, output = docker.run_to_exit(
            ref,
            entrypoint=["docker-ensure-initdb.sh"],
            environment={"POSTGRES_PASSWORD": "x", "PGDATA": OLD_LAYOUT},
            volumes=old,
        )
        assert code == 0, output
    code, output = docker.run_to_exit(
        ref, environment={"POSTGRES_PASSWORD": "x"}, volumes=old
    )
    assert code == 1
    errors = [line for line in output.splitlines() if "ERROR:" in line]
    assert len(errors) == 1, output
    assert OLD_LAYOUT in errors[0]
    if holds_cluster:
        assert f"holds a PostgreSQL {spec.postgres_major} cluster" in errors[0]
    assert "TIP: mount the volume at /var/lib/postgresql" in output


# --- environment ------------------------------------------------------------------


def test_file_variants_of_password_user_db_and_initdb_args(
    image, docker, host_dir, test_settings
) -> None:
    _, ref = image
    password = secrets.token_urlsafe(12)
    write(host_dir / "password", password + "\n")
    write(host_dir / "user", "filed_user")
    write(host_dir / "db", "filed_db")
    write(host_dir / "initdb_args", "--wal-segsize=32")
    environment = {
        f"POSTGRES_{name.upper()}_FILE": f"/run/secrets/{name}"
        for name in ("password", "user", "db", "initdb_args")
    }
    container = docker.create(
        ref,
        environment=environment,
        ports={"5432/tcp": (docker.address, None)},
        volumes=mount(host_dir, "/run/secrets"),
    )
    container.start()
    started = docker.ready(container, "filed_user", password, "filed_db")
    assert query(started, test_settings, "SHOW wal_segment_size") == "32MB"
    assert password not in container.logs().decode()

    code, output = docker.run_to_exit(
        ref,
        environment={"POSTGRES_PASSWORD": "x", "POSTGRES_PASSWORD_FILE": "/x"},
    )
    assert code == 1
    assert "ERROR: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set" in output


def test_initdb_waldir(image, docker, test_settings) -> None:
    spec, ref = image
    started = docker.serve(
        ref, environment={"POSTGRES_INITDB_WALDIR": "/var/lib/postgresql/wal"}
    )
    assert query(started, test_settings, "SELECT count(*) FROM pg_ls_waldir()") >= 1
    code, output, _ = containers.exec_in(
        started.container, ["readlink", f"{spec.pgdata}/pg_wal"]
    )
    assert (code, output.strip()) == (0, "/var/lib/postgresql/wal")


def test_host_auth_method_trust_needs_no_password(image, docker, test_settings) -> None:
    _, ref = image
    started = docker.serve(
        ref, password="", environment={"POSTGRES_HOST_AUTH_METHOD": "trust"}
    )
    assert query(started, test_settings, "SELECT 1") == 1
    assert "POSTGRES_HOST_AUTH_METHOD=trust" in started.container.logs().decode()


def test_pgport_moves_the_init_server_and_the_server(
    image, docker, host_dir, test_settings
) -> None:
    _, ref = image
    started = docker.serve(
        ref,
        container_port=6543,
        environment={"PGPORT": "6543"},
        volumes=init_dir_with(host_dir, "CREATE TABLE made_at_init (x int);"),
    )
    assert query(started, test_settings, "SHOW port") == "6543"
    assert query(started, test_settings, "SELECT count(*) FROM made_at_init") == 0


def test_quoted_initdb_args_and_a_scram_socket(
    image, docker, host_dir, test_settings
) -> None:
    spec, ref = image
    # Quoting as a shell would read it, with a space inside the quotes; the socket
    # then wants a password, which the init server's psql must give. initdb takes
    # -c (a server setting) from PostgreSQL 16; before, a WAL directory with a
    # space in its name carries the quoting instead.
    if spec.postgres_major >= 16:
        quoted = "-c cluster_name='dev db'"
    else:
        quoted = "--waldir='/var/lib/postgresql/wal dir'"
    started = docker.serve(
        ref,
        database="app",
        environment={
            "POSTGRES_DB": "app",
            "POSTGRES_INITDB_ARGS": f"--auth-local=scram-sha-256 {quoted}",
        },
        volumes=init_dir_with(host_dir, "CREATE TABLE made_at_init (x int);"),
    )
    if spec.postgres_major >= 16:
        assert query(started, test_settings, "SHOW cluster_name") == "dev db"
    else:
        code, output, _ = containers.exec_in(
            started.container, ["readlink", f"{spec.pgdata}/pg_wal"]
        )
        assert (code, output.strip()) == (0, "/var/lib/postgresql/wal dir")
    assert (
        query(
            started,
            test_settings,
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'local'",
        )
        == "scram-sha-256"
    )
    assert query(started, test_settings, "SELECT count(*) FROM made_at_init") == 0


def test_en_us_utf8_locale_is_available(image, docker, test_settings) -> None:
    _, ref = image
    started = docker.serve(ref, environment={"LANG": "en_US.utf8"})
    assert (
        query(
            started,
            test_settings,
            "SELECT datcollate FROM pg_database WHERE datname = current_database()",
        )
        == "en_US.utf8"
    )


@pytest.mark.parametrize(
    "with_init_files", [False, True], ids=["single-user", "init-server"]
)
def test_postgres_db_any_name_is_created_with_or_without_init_files(
    image, docker, host_dir, test_settings, with_init_files
) -> None:
    # Without init files a standalone backend creates it (no init server): both
    # ways must quote the name alike.
    _, ref = image
    name = 'odd "db" name'
    volumes = init_dir_with(host_dir, "SELECT 1;") if with_init_files else {}
    started = docker.serve(
        ref, database=name, environment={"POSTGRES_DB": name}, volumes=volumes
    )
    assert query(started, test_settings, "SELECT current_database()") == name


# --- commands and init files -------------------------------------------------------


@pytest.mark.parametrize(
    "command, expected",
    [
        (["postgres", "--version"], "postgres (PostgreSQL) "),
        (["postgres", "--help"], "Usage:"),
        (["-V"], "postgres (PostgreSQL) "),
        (["echo", "passed through"], "passed through"),
    ],
    ids=["version", "help", "dash-option", "other-command"],
)
def test_commands_run_without_initialising(image, docker, command, expected) -> None:
    _, ref = image
    # No POSTGRES_PASSWORD: had the entrypoint started an initdb, it would refuse.
    code, output = docker.run_to_exit(ref, command=command)
    assert code == 0, output
    assert expected in output
    assert "initialising" not in output


def test_server_flags_with_spaces_reach_the_init_server_and_the_server(
    image, docker, host_dir, test_settings
) -> None:
    _, ref = image
    started = docker.serve(
        ref,
        command=["postgres", "-c", "log_line_prefix=%m [%p] "],
        volumes=init_dir_with(host_dir, "SELECT 1;"),
    )
    assert query(started, test_settings, "SHOW log_line_prefix") == "%m [%p] "


def compressed_init_files(directory: Path) -> None:
    row = "INSERT INTO ran VALUES ('{}');\n"
    write(
        directory / "00-table.sql", "CREATE TABLE ran (how text);\n" + row.format("sql")
    )
    write(directory / "10-gz.sql.gz", gzip.compress(row.format("gz").encode()))
    write(directory / "20-xz.sql.xz", lzma.compress(row.format("xz").encode()))
    # No zstd module in Python 3.11's standard library: the zstd tool writes it.
    write(
        directory / "30-zst.sql.zst",
        subprocess.run(
            ["zstd", "-c"],
            input=row.format("zst").encode(),
            capture_output=True,
            check=True,
        ).stdout,
    )
    psql = 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c'
    write(
        directory / "40-executed.sh",
        f"#!/bin/bash\nset -e\n{psql} \"INSERT INTO ran VALUES ('executed')\"\n",
        0o755,
    )
    # Not executable: sourced, so the entrypoint's own helper is in scope.
    write(
        directory / "50-sourced.sh",
        "docker_process_sql -c \"INSERT INTO ran VALUES ('sourced')\"\n",
        0o644,
    )
    write(directory / "60-ignored.txt", "not SQL")


def test_init_files_of_every_kind_run_once(
    image, docker, host_dir, test_settings
) -> None:
    spec, ref = image
    compressed_init_files(host_dir)
    volume = docker.volume()
    started = docker.serve(
        ref,
        volumes={
            volume: {"bind": spec.volume_path, "mode": "rw"},
            **mount(host_dir),
        },
    )
    ran = "SELECT string_agg(how, ',' ORDER BY how) FROM ran"
    expected = "executed,gz,sourced,sql,xz,zst"
    assert query(started, test_settings, ran) == expected
    logs = started.container.logs().decode()
    assert "ignoring /docker-entrypoint-initdb.d/60-ignored.txt" in logs
    assert "sourcing /docker-entrypoint-initdb.d/50-sourced.sh" in logs

    containers.stop(started.container)
    started.container.start()
    again = docker.ready(started.container, "postgres", started.password, "postgres")
    assert query(again, test_settings, ran) == expected


def test_ensure_initdb_initialises_then_leaves_an_existing_database(
    image, docker, test_settings
) -> None:
    spec, ref = image
    volume = docker.volume()
    data = {volume: {"bind": spec.volume_path, "mode": "rw"}}
    environment = {"POSTGRES_PASSWORD": "secret", "POSTGRES_DB": "app"}

    def init_container(name: str) -> tuple[int, str]:
        return docker.run_to_exit(
            ref, entrypoint=[name], environment=environment, volumes=data
        )

    code, output = init_container("docker-ensure-initdb.sh")
    assert code == 0, output
    assert "init complete" in output
    code, output = init_container("docker-ensure-initdb.sh")
    assert code == 0, output
    assert "already initialised" in output
    code, output = init_container("docker-enforce-initdb.sh")
    assert code == 1
    assert "ERROR:" in output

    started = docker.serve(
        ref, password="secret", database="app", environment=environment, volumes=data
    )
    assert query(started, test_settings, "SELECT current_database()") == "app"


# --- docker-compose ----------------------------------------------------------------


def compose_command() -> list[str]:
    """`docker compose` (the plugin) where it exists, else `docker-compose`."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail("neither `docker compose` nor `docker-compose` is installed")
    return [legacy]


def test_compose_keeps_its_data_in_the_named_volume_across_down_and_up(
    image, docker_client, test_settings
) -> None:
    spec, ref = image
    project = f"devdb-contract-{secrets.token_hex(3)}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "TIMESCALEDB_IMAGE": ref,
        "POSTGRES_PORT": str(port),
        # What docker-compose.yml documents for the image's major.
        "POSTGRES_DATA_MOUNT": spec.volume_path,
    }
    compose = [
        *compose_command(),
        "-p",
        project,
        "-f",
        str(PROJECT_ROOT / "docker-compose.yml"),
    ]
    run = dict(env=environment, capture_output=True, text=True, timeout=180)

    def up() -> Started:
        result = subprocess.run([*compose, "up", "-d"], **run)
        assert result.returncode == 0, result.stderr
        container_id = subprocess.run(
            [*compose, "ps", "-q", "db"], **run
        ).stdout.strip()
        container = docker_client.containers.get(container_id)
        readiness.wait_until_ready(
            container,
            port=port,
            user="stock",
            password="stock",
            database="stock_tracker",
            timeout=test_settings.ready_timeout,
        )
        return Started(container, port, "stock", "stock", "stock_tracker")

    try:
        started = up()
        query(started, test_settings, "CREATE TABLE kept AS SELECT 7 AS answer")
        result = subprocess.run([*compose, "down"], **run)
        assert result.returncode == 0, result.stderr
        again = up()
        assert query(again, test_settings, "SELECT answer FROM kept") == 7
        mounts = {m["Destination"]: m for m in again.container.attrs["Mounts"]}
        assert mounts[spec.volume_path]["Name"] == f"{project}_timescaledb-data"
        assert all(
            m["Type"] != "volume" or m["Name"] == mounts[spec.volume_path]["Name"]
            for m in mounts.values()
        ), "data would go to an anonymous volume"
    finally:
        subprocess.run([*compose, "down", "-v"], **run)
