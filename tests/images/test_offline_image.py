"""The offline images keep the official image's contract and say what they are."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import base_environment, run_invoke
from sqlalchemy import create_engine, text

from devdb import labels
from devdb.containers import engine as containers
from devdb.containers import readiness
from devdb.containers.throwaway import throwaway_database
from devdb.images import table as images
from devdb.images.fetch import ensure_image
from devdb.settings import PROJECT_ROOT

# Runs inside the init server: records whether TCP answered while the init scripts
# ran (it must not: the init server listens on the Unix socket only), and counts
# how often the init scripts ran.
INIT_PROBE = """\
#!/bin/bash
set -e
if pg_isready -q -h 127.0.0.1 -p 5432; then tcp=yes; else tcp=no; fi
if pg_isready -q; then socket=yes; else socket=no; fi
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" <<SQL
CREATE TABLE init_runs (tcp_answered text, socket_answered text);
INSERT INTO init_runs VALUES ('$tcp', '$socket');
SQL
"""


def scalar(settings, sql: str):
    engine = create_engine(settings.url())
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("image_id", [spec.id for spec in images.IMAGES])
def test_labels_name_the_versions_the_server_reports(
    image_id, docker_client, test_settings
) -> None:
    spec = images.image_spec(image_id)
    # These are the offline builds' promises, whatever source the rest uses.
    offline = replace(test_settings, image_source="offline")
    with throwaway_database(spec, client=docker_client, settings=offline) as db:
        assert db.image_ref == spec.offline
        image_labels = docker_client.images.get(db.image_ref).labels or {}
        server_version = scalar(db.settings, "SHOW server_version").split()[0]
        assert image_labels[labels.POSTGRES_VERSION] == server_version
        assert server_version.startswith(f"{spec.postgres_major}.")
        assert image_labels[labels.IMAGE_ID] == spec.id
        if spec.timescaledb is None:
            assert image_labels[labels.TIMESCALEDB_VERSION] == "none"
            assert scalar(db.settings, "SHOW shared_preload_libraries") == ""
            return
        assert scalar(db.settings, "SHOW shared_preload_libraries") == "timescaledb"
        assert scalar(db.settings, "SHOW timescaledb.telemetry_level") == "off"
        # No CREATE EXTENSION: as in the official image, every database of a new
        # cluster has it (tests/images/test_timescaledb_at_init.py).
        extension_version = scalar(
            db.settings,
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
        )
        assert image_labels[labels.TIMESCALEDB_VERSION] == extension_version
        assert extension_version.startswith(spec.timescaledb)


def test_image_is_lean(docker_client, test_settings) -> None:
    spec = images.reference_image()
    image_ref = ensure_image(
        docker_client, spec, "offline", mirror=test_settings.debian_mirror
    )
    # Not `remove=True`: that leaves the image's VOLUME behind as an anonymous volume.
    container = docker_client.containers.run(
        image_ref,
        entrypoint=["/bin/sh", "-c"],
        command=[
            "ls /usr/share/doc /usr/share/man /usr/share/locale /var/cache/apt "
            "/var/lib/apt/lists | grep -v ':$' | grep -c . || true"
        ],
        detach=True,
    )
    try:
        container.wait(timeout=60)
        output = container.logs(stdout=True, stderr=False)
    finally:
        containers.remove(container)
    assert output.decode().strip() == "0"


@pytest.fixture
def init_probe_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parent is private to root, and the entrypoint
    # reads the scripts as the postgres user.
    directory = Path(tempfile.mkdtemp(prefix="devdb-init-probe-"))
    directory.chmod(0o755)
    script = directory / "probe.sh"
    script.write_text(INIT_PROBE)
    script.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def volume(docker_client) -> Iterator[str]:
    name = f"devdb-test-init-{secrets.token_hex(4)}"
    docker_client.volumes.create(name, labels={labels.PROJECT: labels.PROJECT_NAME})
    yield name
    docker_client.volumes.get(name).remove(force=True)


def test_init_scripts_run_once_on_an_empty_directory_over_the_socket_only(
    docker_client, test_settings, init_probe_dir, volume
) -> None:
    spec = images.reference_image()
    image_ref = ensure_image(
        docker_client, spec, "offline", mirror=test_settings.debian_mirror
    )
    password = secrets.token_urlsafe(12)
    container = docker_client.containers.run(
        image_ref,
        detach=True,
        environment={
            "POSTGRES_USER": "probe",
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": "probe_db",
        },
        labels={labels.PROJECT: labels.PROJECT_NAME, labels.ROLE: labels.ROLE_TEST},
        ports={"5432/tcp": ("127.0.0.1", None)},
        volumes={
            volume: {"bind": spec.volume_path, "mode": "rw"},
            str(init_probe_dir): {"bind": "/docker-entrypoint-initdb.d", "mode": "ro"},
        },
    )
    try:
        for _ in range(2):  # the second start finds a data directory: no init
            port = containers.published_port(container)
            readiness.wait_until_ready(
                container,
                port=port,
                user="probe",
                password=password,
                database="probe_db",
                timeout=60,
            )
            settings = replace(
                test_settings,
                user="probe",
                password=password,
                host="127.0.0.1",
                port=port,
                database="probe_db",
            )
            assert scalar(settings, "SELECT count(*) FROM init_runs") == 1
            assert scalar(settings, "SELECT tcp_answered FROM init_runs") == "no"
            assert scalar(settings, "SELECT socket_answered FROM init_runs") == "yes"
            containers.stop(container)
            container.start()
        logs = container.logs().decode()
        assert logs.count("running /docker-entrypoint-initdb.d/probe.sh") == 1
        assert password not in logs
    finally:
        containers.remove(container)


def test_a_failing_build_ends_with_its_log_tail_its_log_file_and_a_tip() -> None:
    """An unreachable mirror: the build's own lines stay in a log file, and the
    failure shows the last of them, where the whole log is, and what to do."""
    env = base_environment(
        # Its own image name and a mirror nothing listens on: no real image is touched.
        DEVDB_OFFLINE_REPOSITORY="stock-tracker-devdb-test/failing-build",
        DEVDB_DEBIAN_MIRROR="http://127.0.0.1:9/debian",
    )
    result = run_invoke("image.build", "--image", "pg15-plain", "--force", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert output.count("\nTIP: ") + output.startswith("TIP: ") == 1, output
    assert "ERROR: debootstrap bookworm failed" in output, output
    assert "127.0.0.1:9" in output.split("ERROR:", 1)[1], "the tail names the mirror"
    [log_name] = re.findall(r"full log: (\S+\.log)", output)
    log = (PROJECT_ROOT / log_name).read_text()
    assert "127.0.0.1:9" in log
    assert "DEVDB_DEBIAN_MIRROR" in output.split("TIP:", 1)[1]
