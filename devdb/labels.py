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
