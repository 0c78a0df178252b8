"""One frozen Settings object, shared by the invoke tasks, nox and the tests.

Precedence, highest first:
1. ``DATABASE_URL`` (the backend's own variable; an asyncpg URL is accepted);
2. ``DEVDB_*`` environment variables (``DEVDB_IMAGE``, ``DEVDB_PORT``, ...);
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
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from devdb.errors import DevDbError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SOURCES = ("auto", "official", "offline")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")
URL_SHAPE = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


@dataclass(frozen=True)
class Settings:
    user: str = "stock"
    password: str = "stock"
    host: str = "localhost"
    port: int = 5432
    database: str = "stock_tracker"
    # True when DATABASE_URL named the database: the tasks then never look for the
    # dev container's port but use the URL exactly as given.
    exact_target: bool = False
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
    project_root: Path = PROJECT_ROOT

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
        """Checksums of released revisions (see devdb/schema.py)."""
        return self.project_root / "db" / "alembic.sum"

    @property
    def schema_file(self) -> Path:
        return self.project_root / "db" / "schema.sql"

    @property
    def init_sql_dir(self) -> Path:
        return self.project_root / "db" / "migrations"

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS or self.host.startswith("127.")

    def url(self, database: str | None = None) -> URL:
        """The SQLAlchemy URL (psycopg2 driver) of the database, or of another one."""
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=database or self.database,
        )

    def safe_url(self) -> str:
        """The URL for people to read: the password is never shown.

        Built by hand: importing SQLAlchemy for it would cost a warm `db.up` a
        third of its time.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        user, database = quote(self.user, safe=""), quote(self.database, safe="")
        return f"postgresql://{user}:***@{host}:{self.port}/{database}"

    def with_port(self, port: int) -> Settings:
        check_port(port)
        return replace(self, port=port)


def parse_database_url(raw: str) -> dict[str, Any]:
    """Split a DATABASE_URL into Settings fields, or explain (without echoing it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = raw.strip()
    # postgres:// is what Heroku-style providers hand out; SQLAlchemy wants postgresql.
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
        port = url.port
    except (ArgumentError, ValueError):
        # The raw value may hold a password: describe it, never print it.
        raise DevDbError(
            "DATABASE_URL is not a database URL that can be parsed",
            f"set it in the form {URL_SHAPE} (percent-encode special characters "
            "in the password), or unset it to use the dev database",
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend != "postgresql" or driver not in ("", "psycopg2", "asyncpg"):
        raise DevDbError(
            f"DATABASE_URL uses the scheme '{url.drivername}', not PostgreSQL",
            f"set it in the form {URL_SHAPE}",
        )
    if not url.database:
        raise DevDbError(
            "DATABASE_URL names no database",
            f"add the database name at the end: {URL_SHAPE}",
        )
    return {
        "user": url.username or "postgres",
        "password": url.password or "",
        "host": url.host or "localhost",
        "port": port or 5432,
        "database": url.database,
        "exact_target": True,
    }


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return dict(tomllib.load(handle).get("devdb", {}))
    except tomllib.TOMLDecodeError as error:
        raise DevDbError(
            f"{path.name} is not valid TOML: {error}",
            f"fix or delete {path}",
        ) from None


def _coerce(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DevDbError(
            f"setting '{name}' must be a {kind.__name__}, got {value!r}",
            f"fix DEVDB_{name.upper()} or '{name}' in devdb.toml / devdb.local.toml",
        ) from None


def load_settings(
    environ: dict[str, str] | None = None, project_root: Path = PROJECT_ROOT
) -> Settings:
    """Read the settings, highest precedence first as the module docstring says."""
    environ = dict(os.environ if environ is None else environ)
    derived = ("project_root", "exact_target")
    known = {f.name: f for f in fields(Settings) if f.name not in derived}
    values: dict[str, Any] = {}
    values.update(_read_toml(project_root / "devdb.toml"))
    values.update(_read_toml(project_root / "devdb.local.toml"))
    for name in known:
        env_value = environ.get(f"DEVDB_{name.upper()}")
        if env_value not in (None, ""):
            values[name] = env_value
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise DevDbError(
            f"unknown setting(s): {', '.join(unknown)}",
            f"known settings are: {', '.join(sorted(known))}",
        )
    database_url = environ.get("DATABASE_URL", "").strip()
    if database_url:
        values.update(parse_database_url(database_url))

    types = {"port": int, "ready_timeout": float, "migration_lock_wait": float}
    for name, kind in types.items():
        if name in values:
            values[name] = _coerce(name, values[name], kind)
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


# What onboarding remembers for later shells: where this machine's dev database is.
REMEMBERED = ("port", "container_name", "image_source")


def remember_local_choices(settings: Settings) -> list[str]:
    """Write this shell's machine choices to devdb.local.toml; the names changed.

    Only the REMEMBERED settings that differ from the committed devdb.toml (or from
    what devdb.local.toml already says) are written, so a plain machine gets no
    file and a second run changes nothing. The file is rewritten whole: it belongs
    to this machine, and the toolkit owns its [devdb] table.
    """
    project = _read_toml(settings.project_root / "devdb.toml")
    local_path = settings.project_root / "devdb.local.toml"
    local = _read_toml(local_path)
    merged = dict(local)
    for name in REMEMBERED:
        value = getattr(settings, name)
        default = project.get(name, getattr(Settings, name))
        if value != default or name in local:
            merged[name] = value
    for name in [n for n in REMEMBERED if merged.get(n) == project.get(n)]:
        merged.pop(name, None)  # back to the project's default: nothing to remember
    if merged == local:
        return []
    lines = ["# This machine's choices (written by scripts/onboard.sh).", "[devdb]"]
    for name, value in merged.items():
        lines.append(f"{name} = {_toml_value(value)}")
    local_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(name for name in merged if merged.get(name) != local.get(name))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
