"""Is it this machine? Decided from where a connection really goes.

One answer for every destructive path (``devdb.safety`` asks it before anything
connects), worked out as libpq and the Docker client work out their targets:

- a database: the keywords the toolkit hands libpq, read back through libpq's own
  conninfo parser, then filled in as libpq fills them: a ``service`` entry
  (``PGSERVICE``, ``PGSERVICEFILE``, ``~/.pg_service.conf``, ``PGSYSCONFDIR``), then
  the ``PG*`` environment variables. Every host of a host list counts, and a
  ``hostaddr`` (where libpq really connects) beats the host name beside it;
- the Docker engine: ``DOCKER_HOST``, else the context ``DOCKER_CONTEXT`` or the
  Docker CLI's config names (read where the CLI keeps it), else the default
  socket; ``devdb.containers.engine.docker_client`` connects to this very
  endpoint, so what is judged is what is reached. A dev database on a remote engine is not local, whatever ``DEVDB_HOST``
  says (an SSH tunnel's "localhost" still ends on the other machine).

Local means a Unix socket, a loopback address (127.0.0.0/8, ::1), or a name that
resolves to loopback addresses only. A name is never local for how it is spelled:
``127.example.invalid`` is whatever DNS says, and a name that does not resolve
here is not local.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devdb.errors import DevDbError


class DatabaseTarget(Protocol):
    """What the decision needs of the Settings (which import this module)."""

    @property
    def exact_target(self) -> bool: ...

    def libpq_parameters(self) -> dict[str, Any]: ...


Resolver = Callable[[str], list[str]]
DEFAULT_DOCKER_SOCKET = "unix:///var/run/docker.sock"


def resolve_name(name: str) -> list[str]:
    """Every address ``name`` resolves to here (empty when it does not)."""
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(entry[4][0]) for entry in found})


def is_loopback(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return bool((mapped or parsed).is_loopback)


@dataclass(frozen=True)
class Place:
    """One place a connection may go, and whether it is this machine."""

    where: str
    local: bool
    why: str = ""  # why it is not local, when it is not


def network_place(host: str, resolve: Resolver, label: str = "") -> Place:
    """A TCP host (an address or a name): local only when it is loopback."""
    shown = f"{host} ({label})" if label else host
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        addresses = resolve(host)
        if not addresses:
            return Place(shown, False, f"the name '{host}' does not resolve here")
        if all(is_loopback(address) for address in addresses):
            return Place(shown, True)
        outside = ", ".join(a for a in addresses if not is_loopback(a))
        return Place(shown, False, f"'{host}' resolves to {outside}")
    if is_loopback(host):
        return Place(shown, True)
    return Place(shown, False, f"{host} is not a loopback address")


# --- a database, as libpq reaches it --------------------------------------------


def service_file_entry(
    name: str, environ: Mapping[str, str]
) -> tuple[dict[str, str], str] | None:
    """The keywords of service ``name``, and the file that holds it.

    libpq's order: the user's file (``PGSERVICEFILE``, else ~/.pg_service.conf),
    then the system's (``PGSYSCONFDIR``/pg_service.conf). None when neither has it.
    """
    home = environ.get("HOME") or os.path.expanduser("~")
    files = [Path(environ.get("PGSERVICEFILE") or Path(home) / ".pg_service.conf")]
    if environ.get("PGSYSCONFDIR"):
        files.append(Path(environ["PGSYSCONFDIR"]) / "pg_service.conf")
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        section: str | None = None
        found: dict[str, str] = {}
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                if section == name:
                    break
                section = line[1:].partition("]")[0]
                continue
            if section == name and "=" in line:
                key, _, value = line.partition("=")
                found.setdefault(key.strip(), value.strip())
        if section == name:
            return found, str(path)
    return None


def libpq_target(
    parameters: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """The keywords libpq ends up with for ``parameters``; and a note of where a
    service entry came from ('' without one).

    Parsed by libpq itself (psycopg2's make_dsn/parse_dsn: its quoting, its
    keywords), then filled in as libpq's conninfo_add_defaults does: what the
    connection string leaves out comes from the service entry, then from the
    environment. A service nobody can find is a DevDbError: libpq would look in
    a folder compiled into it, which nothing here can read.
    """
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import make_dsn, parse_dsn

    given = {k: str(v) for k, v in parameters.items() if k != "password"}
    try:
        keywords: dict[str, str] = dict(parse_dsn(make_dsn(**given)))
    except ProgrammingError as error:
        # libpq's own words name the parameter; no value is echoed.
        raise DevDbError(
            f"libpq cannot read the connection parameters: {str(error).strip()}",
            "fix or remove that parameter in DATABASE_URL",
        ) from None
    service = keywords.get("service") or environ.get("PGSERVICE", "")
    source = ""
    if service:
        entry = service_file_entry(service, environ)
        if entry is None:
            raise DevDbError(
                f"the service '{service}' is in no service file this toolkit can "
                "read, so where it points cannot be told",
                "put it in ~/.pg_service.conf or the file PGSERVICEFILE names, or "
                "give the host in DATABASE_URL itself",
            )
        values, source = entry
        for key, value in values.items():
            keywords.setdefault(key, value)
    for key, variable in (
        ("host", "PGHOST"),
        ("hostaddr", "PGHOSTADDR"),
        ("port", "PGPORT"),
    ):
        if not keywords.get(key) and environ.get(variable):
            keywords[key] = environ[variable]
    return keywords, source


def libpq_places(
    parameters: Mapping[str, Any],
    environ: Mapping[str, str],
    resolve: Resolver = resolve_name,
) -> list[Place]:
    """Every place libpq may connect to for ``parameters``, in its order."""
    keywords, service_file = libpq_target(parameters, environ)
    hosts = keywords.get("host", "").split(",")
    addresses = (
        keywords.get("hostaddr", "").split(",") if keywords.get("hostaddr") else []
    )
    if addresses and len(hosts) == 1 and not hosts[0]:
        hosts = [""] * len(addresses)
    places: list[Place] = []
    for index, host in enumerate(hosts):
        address = addresses[index].strip() if index < len(addresses) else ""
        host = host.strip()
        if address:
            # libpq connects to hostaddr; the host name only names it (TLS, auth).
            places.append(
                network_place(address, resolve, f"hostaddr of {host or 'the URL'}")
            )
        elif host.startswith(("/", "@")):
            places.append(Place(f"{host} (Unix socket)", True))
        elif host:
            places.append(network_place(host, resolve))
        else:
            places.append(Place("the default Unix socket", True))
    if len(addresses) > len(hosts):
        places.extend(
            network_place(a.strip(), resolve, "hostaddr")
            for a in addresses[len(hosts) :]
        )
    if service_file:
        places = [
            Place(f"{p.where}, from {service_file}", p.local, p.why) for p in places
        ]
    return places


# --- the Docker engine -----------------------------------------------------------


@dataclass(frozen=True)
class DockerEndpoint:
    """The engine the Docker client talks to, and what chose it."""

    url: str
    chosen_by: str  # "DOCKER_HOST", "Docker context 'x'", "the default socket"
    context: str = ""  # the context's name, when a context chose it
    tls_dir: str = ""  # a context's ca.pem, cert.pem, key.pem
    skip_tls_verify: bool = False

    @property
    def host(self) -> str | None:
        """The machine a tcp://, ssh:// or http(s):// endpoint names, else None."""
        from urllib.parse import urlsplit

        scheme, _, rest = self.url.partition("://")
        if scheme not in ("tcp", "ssh", "http", "https"):
            return None
        try:
            return urlsplit(f"//{rest}").hostname or None
        except ValueError:
            return None

    def describe(self) -> str:
        if self.chosen_by == "the default socket":
            return f"{self.url} (the default socket)"
        return f"{self.url} ({self.chosen_by})"

    def place(self, resolve: Resolver = resolve_name) -> Place:
        host = self.host
        if host is None:
            return Place(self.describe(), True)  # a socket or a named pipe
        verdict = network_place(host, resolve)
        return Place(self.describe(), verdict.local, verdict.why)


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(environ.get("DOCKER_CONFIG") or Path(home) / ".docker")


def current_context_name(environ: Mapping[str, str]) -> str:
    """DOCKER_CONTEXT, else the Docker CLI config's currentContext, else 'default'."""
    named = environ.get("DOCKER_CONTEXT", "").strip()
    if named:
        return named
    try:
        config = json.loads(
            (docker_config_dir(environ) / "config.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return "default"
    current = config.get("currentContext") if isinstance(config, dict) else None
    return str(current or "default")


def docker_endpoint(environ: Mapping[str, str] | None = None) -> DockerEndpoint:
    """Where the Docker client goes, as the Docker CLI and docker-py decide it."""
    environ = os.environ if environ is None else environ
    docker_host = environ.get("DOCKER_HOST", "").strip()
    if docker_host:
        return DockerEndpoint(docker_host, "DOCKER_HOST")
    name = current_context_name(environ)
    if name == "default":
        return DockerEndpoint(DEFAULT_DOCKER_SOCKET, "the default socket")
    return context_endpoint(name, environ)


def context_endpoint(name: str, environ: Mapping[str, str]) -> DockerEndpoint:
    """The engine a Docker CLI context names, read where the CLI keeps it.

    ``<config>/contexts/meta/<sha256 of the name>/meta.json``, its TLS files
    under ``contexts/tls/<same>/docker``. docker-py's own reader looks beside a
    config.json that need not exist (and then quietly takes the default socket);
    the CLI does not, and neither does this.
    """
    import hashlib

    config = docker_config_dir(environ)
    key = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta = config / "contexts" / "meta" / key / "meta.json"
    try:
        endpoints = json.loads(meta.read_text(encoding="utf-8"))["Endpoints"]
        docker = endpoints["docker"]
        host = str(docker["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DevDbError(
            f"the Docker context '{name}' ("
            + ("DOCKER_CONTEXT" if environ.get("DOCKER_CONTEXT") else "the current one")
            + f" in {config}) does not exist or names no engine",
            "`docker context ls` lists the contexts; `docker context use default` "
            "(or unset DOCKER_CONTEXT) goes back to this machine's engine",
        ) from None
    return DockerEndpoint(
        host,
        f"Docker context '{name}'",
        name,
        tls_dir=str(config / "contexts" / "tls" / key / "docker"),
        skip_tls_verify=bool(docker.get("SkipTLSVerify")),
    )


def docker_engine_host(environ: Mapping[str, str] | None = None) -> str | None:
    """The host of the Docker engine the client talks to when it is another
    machine's (DOCKER_HOST, else the Docker context), else None."""
    endpoint = docker_endpoint(environ)
    if endpoint.host is None or endpoint.place().local:
        return None
    return endpoint.host


# --- the one decision --------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    local: bool
    places: tuple[Place, ...]

    def where(self) -> str:
        """The places for people: the ones that are not local, when any is not."""
        shown = [p for p in self.places if not p.local] or list(self.places)
        return "; ".join(p.where for p in shown)

    def why(self) -> str:
        return "; ".join(p.why for p in self.places if not p.local and p.why)


def database_locality(
    settings: DatabaseTarget,
    environ: Mapping[str, str] | None = None,
    resolve: Resolver = resolve_name,
) -> Verdict:
    """Whether the database ``settings`` name is on this machine (nothing connects).

    The dev database (no DATABASE_URL) lives on the Docker engine: a remote
    engine makes it non-local whatever host it is reached by.
    """
    environ = os.environ if environ is None else environ
    places = libpq_places(settings.libpq_parameters(), environ, resolve)
    if not settings.exact_target:
        engine = docker_endpoint(environ).place(resolve)
        if not engine.local:
            places.append(
                Place(f"the Docker engine at {engine.where}", False, engine.why)
            )
    return Verdict(all(place.local for place in places), tuple(places))


def engine_locality(
    environ: Mapping[str, str] | None = None, resolve: Resolver = resolve_name
) -> Verdict:
    """Whether the Docker engine the client talks to is on this machine."""
    place = docker_endpoint(environ).place(resolve)
    return Verdict(place.local, (place,))
