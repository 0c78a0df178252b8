"""One frozen Settings object, shared by the invoke tasks, nox and the tests.

Precedence, highest first:
1. ``DATABASE_URL`` (the backend's own variable; an asyncpg URL is accepted);
2. ``DEVDB_*`` environment variables (``DEVDB_IMAGE``, ``DEVDB_PORT``, ...);
   ``DEVDB_HOST`` is where the dev database is reached: this machine, or the
   engine's host when the Docker client's endpoint (DOCKER_HOST, else the Docker
   context) is a remote engine, which outranks ``devdb.toml`` but not
   ``devdb.local.toml``;
3. ``devdb.local.toml`` (git-ignored: this machine's choices, e.g. what onboarding
   picked) over ``devdb.toml`` (committed: the project's defaults), table ``[devdb]``;
4. the defaults below, which match ``backend/alembic.ini``.

TOML rather than invoke.yaml because Alembic's env.py, nox and pytest read these
settings too, and none of them should need invoke (or a YAML parser) to do so.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from devdb.database_url import SECRET_PARAMETERS, parse_database_url
from devdb.errors import DevDbError
from devdb.locality import docker_engine_host

# Upstream's tag archives: `<url>/<version>.tar.gz` is `git archive` of the tag.
TIMESCALEDB_RELEASES_URL = "https://github.com/timescale/timescaledb/archive/refs/tags"

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SOURCES = ("auto", "official", "offline")


@dataclass(frozen=True, repr=False)
class Settings:
    user: str = "stock"
    # Never in a repr: a traceback (pytest shows its locals) or a log line that
    # prints the settings must not carry it.
    password: str = field(default="stock", repr=False)
    host: str = "localhost"
    port: int = 5432
    database: str = "stock_tracker"
    # True when DATABASE_URL named the database: the tasks then never look for the
    # dev container's port but use the URL exactly as given.
    exact_target: bool = False
    # DATABASE_URL's query parameters (sslmode, sslrootcert, options, ...), passed
    # to libpq as they are: a managed database that requires TLS gets TLS.
    query: tuple[tuple[str, str], ...] = ()
    image: str = "pg17-ts2.19"
    image_source: str = "auto"
    container_name: str = "stock-tracker-db"
    ready_timeout: float = 60.0
    migration_lock_wait: float = 60.0
    # Set for every migration session by backend/alembic/env.py: a revision's DDL
    # waits at most this long for a table lock rather than queue every reader
    # and writer behind it; "0" (PostgreSQL's own) means no limit.
    migration_lock_timeout: str = "5s"
    migration_statement_timeout: str = "0"
    debian_mirror: str = "http://deb.debian.org/debian"
    # A revision whose file is on this git branch is released: it must never
    # change or be backed out. The others are still the author's to edit.
    release_branch: str = "main"
    # Where TimescaleDB source archives (with tsl/) come from for the full builds:
    # upstream's release archives (downloaded over https and checked against the
    # digests pinned in devdb/images/sources.py), or a folder of archives (relative
    # to the project root) for machines that cannot reach GitHub.
    timescaledb_sources: str = TIMESCALEDB_RELEASES_URL
    # Where builds keep root filesystems and compiled TimescaleDB; empty: the
    # git-ignored .cache/devdb of the checkout (another folder times a cold build).
    build_cache: str = ""
    project_root: Path = PROJECT_ROOT
    # The machine of a remote Docker engine (the client's endpoint: DOCKER_HOST or
    # the Docker context); empty when the engine runs on this machine.
    engine_host: str = ""

    def __repr__(self) -> str:
        """The dataclass's repr, with no secret in it: neither the password nor a
        secret URL parameter (sslpassword) reaches a traceback or a log line."""
        shown = []
        for item in fields(self):
            if item.name == "password":
                continue
            value = getattr(self, item.name)
            if item.name == "query":
                value = tuple(
                    (name, "***" if name in SECRET_PARAMETERS else text)
                    for name, text in value
                )
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def volume_name(self) -> str:
        return f"{self.container_name}-data"

    @property
    def alembic_ini(self) -> Path:
        return self.project_root / "backend" / "alembic.ini"

    @property
    def script_location(self) -> Path:
        """The Alembic revisions: env.py, script.py.mako, versions/."""
        return self.alembic_ini.parent / "alembic"

    @property
    def migrations_sum_file(self) -> Path:
        """Checksums of released revisions (see devdb/schema/checksums.py)."""
        return self.project_root / "db" / "alembic.sum"

    @property
    def schema_file(self) -> Path:
        return self.project_root / "db" / "schema.sql"

    @property
    def init_sql_dir(self) -> Path:
        return self.project_root / "db" / "migrations"

    @property
    def cache_dir(self) -> Path:
        """The build cache: root filesystems, compiled TimescaleDB, downloads."""
        if self.build_cache.strip():
            return Path(self.build_cache).expanduser().resolve()
        return self.project_root / ".cache" / "devdb"

    def timescaledb_sources_location(self) -> str:
        """The sources setting with a relative folder made relative to the project."""
        value = self.timescaledb_sources.strip()
        if not value or "://" in value or Path(value).expanduser().is_absolute():
            return value
        return str((self.project_root / value).resolve())

    @property
    def engine_address(self) -> str:
        """Where a port the Docker engine publishes is reached from here.

        A local engine publishes on IPv4 loopback (never 0.0.0.0), which
        "localhost" may not resolve to first; a remote one where DEVDB_HOST says
        (the engine's host, or the local end of an SSH tunnel).
        """
        if not self.engine_host:
            return "127.0.0.1"
        # DATABASE_URL's host names that database, not the engine's machine.
        return self.engine_host if self.exact_target else self.host

    def url(self, database: str | None = None) -> URL:
        """The SQLAlchemy URL (psycopg2 driver) of the database, or of another one.

        Without the secret parameters: a URL gets rendered (reprs, logs, errors).
        """
        from sqlalchemy.engine import URL

        query: dict[str, list[str]] = {}
        for name, value in self.query:
            if name not in SECRET_PARAMETERS:  # see secret_parameters()
                query.setdefault(name, []).append(value)
        socket = self.host.startswith("/")
        if socket:
            # A socket directory cannot sit in the URL's host part; libpq reads
            # it from the query, as in DATABASE_URL's own '?host=/path'.
            query["host"] = [self.host]
        return URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password,
            host=None if socket else self.host,
            port=self.port,
            database=database or self.database,
            query={k: v[0] if len(v) == 1 else tuple(v) for k, v in query.items()},
        )

    def secret_parameters(self) -> dict[str, str]:
        """The URL parameters that are secrets (sslpassword): passed to libpq
        beside the URL (``devdb.database.connect``), never in it."""
        return {k: v for k, v in self.query if k in SECRET_PARAMETERS}

    def libpq_parameters(self) -> dict[str, Any]:
        """Keyword arguments for psycopg2.connect: the URL's parts and parameters."""
        return {
            **dict(self.query),
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }

    def safe_url(self) -> str:
        """The URL for people to read: the password is never shown.

        Built by hand: importing SQLAlchemy for it would cost a warm `db.up` a
        third of its time.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        user, database = quote(self.user, safe=""), quote(self.database, safe="")
        query = "&".join(
            f"{name}={'***' if name in SECRET_PARAMETERS else quote(value, safe='/')}"
            for name, value in self.query
        )
        if self.host.startswith("/"):
            return f"postgresql://{user}:***@/{database}?host={host}" + (
                f"&{query}" if query else ""
            )
        return f"postgresql://{user}:***@{host}:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def with_port(self, port: int) -> Settings:
        check_port(port)
        return replace(self, port=port)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("devdb", {})
    except tomllib.TOMLDecodeError as error:
        raise DevDbError(
            f"{path.name} is not valid TOML: {error}",
            f"fix or delete {path}",
        ) from None
    except UnicodeDecodeError:
        raise DevDbError(
            f"{path.name} is not UTF-8 text, so it is not TOML",
            f"save {path} as UTF-8, or delete it",
        ) from None
    except OSError as error:
        raise DevDbError(
            f"cannot read {path.name}: {error.strerror}",
            f"check the permissions of {path}",
        ) from None
    if not isinstance(table, dict):
        raise DevDbError(
            f"'devdb' in {path.name} is not a table",
            f"write the settings under a [devdb] header in {path}",
        )
    return {name: (value, path.name) for name, value in table.items()}


def read_toml_values(path: Path) -> dict[str, Any]:
    """A settings file's [devdb] table, values only (see _read_toml)."""
    return {name: value for name, (value, _source) in _read_toml(path).items()}


def _coerce(name: str, value: Any, kind: type, source: str) -> Any:
    """``value`` as ``kind``; numbers are validated, never rounded or truncated.

    TOML hands over typed values (port = 1.9 is a float, host = 5 an int);
    environment variables hand over text.
    """
    if isinstance(value, bool):
        good = False  # True is an int to Python, not a port to anyone
    elif kind is int:
        good = isinstance(value, int) or (
            isinstance(value, str) and value.strip().isdigit()
        )
    elif kind is float:
        good = isinstance(value, int | float)
        if isinstance(value, str):
            try:
                float(value)
                good = True
            except ValueError:
                good = False
    else:
        good = isinstance(value, kind)
    if not good:
        raise DevDbError(
            f"setting '{name}' in {source} must be "
            f"{'a whole number' if kind is int else 'a number' if kind is float else 'text'}"
            f", got {value!r}",
            f"fix '{name}' in {source}",
        )
    return kind(value)


def load_settings(
    environ: dict[str, str] | None = None, project_root: Path = PROJECT_ROOT
) -> Settings:
    """Read the settings, highest precedence first as the module docstring says."""
    environ = dict(os.environ if environ is None else environ)
    derived = ("project_root", "exact_target", "query", "engine_host")
    known = {f.name: f for f in fields(Settings) if f.name not in derived}
    # Each value with where it came from, so an error names the file or variable;
    # every source is checked, not only the one that wins.
    layers = [
        _read_toml(project_root / "devdb.toml"),
        _read_toml(project_root / "devdb.local.toml"),
        {
            name: (environ[f"DEVDB_{name.upper()}"], f"DEVDB_{name.upper()}")
            for name in known
            if environ.get(f"DEVDB_{name.upper()}") not in (None, "")
        },
    ]
    types = {"port": int, "ready_timeout": float, "migration_lock_wait": float}
    values: dict[str, Any] = {}
    # With a remote engine the dev container's port is on the engine's host, not
    # here: that host outranks the project's committed "localhost", and this
    # machine's file or DEVDB_HOST outrank it.
    database_url = environ.get("DATABASE_URL", "").strip()
    try:
        engine_host = docker_engine_host(environ)
    except DevDbError:
        if not database_url:
            raise
        engine_host = None  # DATABASE_URL's database needs no engine to be found
    if engine_host:
        layers.insert(1, {"host": (engine_host, "the Docker engine's address")})
        values["engine_host"] = engine_host
    for layer in layers:
        unknown = sorted(set(layer) - set(known))
        if unknown:
            raise DevDbError(
                f"unknown setting(s): {', '.join(unknown)}",
                f"known settings are: {', '.join(sorted(known))}",
            )
        for name, (value, source) in layer.items():
            values[name] = _coerce(name, value, types.get(name, str), source)
    if database_url:
        values.update(parse_database_url(database_url))
    check_container_name(str(values.get("container_name", Settings.container_name)))
    settings = Settings(project_root=project_root, **values)
    if settings.image_source not in IMAGE_SOURCES:
        raise DevDbError(
            f"image_source must be one of {', '.join(IMAGE_SOURCES)}, "
            f"got '{settings.image_source}'",
            "fix DEVDB_IMAGE_SOURCE or image_source in devdb.toml / devdb.local.toml",
        )
    check_port(settings.port)
    for name in ("migration_lock_timeout", "migration_statement_timeout"):
        check_duration(name, getattr(settings, name))
    return settings


# Docker's own rule for container names; the name also names the volume and the
# machine lock file, so nothing else may pass.
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def check_container_name(name: str) -> None:
    if not CONTAINER_NAME.fullmatch(name):
        raise DevDbError(
            f"container_name {name!r} is not a Docker container name",
            "use letters, digits, '_', '.' and '-' (starting with a letter or "
            "digit): fix DEVDB_CONTAINER_NAME or container_name in devdb.toml / "
            "devdb.local.toml",
        )


# What PostgreSQL accepts for a timeout: a number, optionally with a unit.
DURATION = re.compile(r"\d+(\.\d+)?\s*(us|ms|s|min|h|d)?")


def check_duration(name: str, value: str) -> None:
    if not DURATION.fullmatch(value.strip()):
        raise DevDbError(
            f"setting '{name}' must be a PostgreSQL duration such as 5s, 500ms, "
            f"1min or 0 (no limit), got {value!r}",
            f"fix DEVDB_{name.upper()} or '{name}' in devdb.toml / devdb.local.toml",
        )


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise DevDbError(
            f"port {port} is not a TCP port",
            "pick a port between 1 and 65535, or 0 for any free one",
        )
