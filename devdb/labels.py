"""Namespaced Docker labels: how the toolkit finds what it made, in one place."""

NAMESPACE = "com.stock-tracker.devdb"
PROJECT = f"{NAMESPACE}.project"
PROJECT_NAME = "stock-tracker"
ROLE = f"{NAMESPACE}.role"  # "dev" for the dev database, "test" for throwaways
IMAGE_ID = f"{NAMESPACE}.image-id"
IMAGE_REF = f"{NAMESPACE}.image-ref"
POSTGRES_VERSION = f"{NAMESPACE}.postgres-version"
TIMESCALEDB_VERSION = f"{NAMESPACE}.timescaledb-version"
DEBIAN_SUITE = f"{NAMESPACE}.debian-suite"
# The settings a container was created with, to warn when they change.
CONFIG = f"{NAMESPACE}.config"

ROLE_DEV = "dev"
ROLE_TEST = "test"
# "timescale", "apache" or "none": what timescaledb.license allows on the image.
TIMESCALEDB_LICENSE = f"{NAMESPACE}.timescaledb-license"
# Every TimescaleDB version an image carries (oldest first), for extension updates.
TIMESCALEDB_VERSIONS = f"{NAMESPACE}.timescaledb-versions"
# A test run's shared throwaway server (devdb/testdb): the run it serves, and the
# process and machine that remove it, so the next run finds and removes the server
# of a run that crashed.
TESTDB_RUN = f"{NAMESPACE}.testdb-run"
TESTDB_PID = f"{NAMESPACE}.testdb-pid"
TESTDB_HOST = f"{NAMESPACE}.testdb-host"
