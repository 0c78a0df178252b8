"""DATABASE_URL: parsed into settings fields, its query kept, nothing of it echoed.

The backend's own variable names any database, local or managed (TLS required):
every libpq parameter in its query is carried to every connection, an unknown one
is refused by name, and a password with an unencoded '@' is refused before it can
be mistaken for a host and printed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from devdb.errors import DevDbError

URL_SHAPE = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
# libpq's connection parameters that may follow '?' in DATABASE_URL. The URL's own
# parts (user, password, dbname, port) are not among them: one place each.
LIBPQ_PARAMETERS = frozenset(
    [
        "host",
        "hostaddr",
        "passfile",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "gssencmode",
        "sslmode",
        "requiressl",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "sslnegotiation",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "require_auth",
    ]
)
SECRET_PARAMETERS = frozenset({"sslpassword"})


def parse_database_url(raw: str) -> dict[str, Any]:
    """Split a DATABASE_URL into Settings fields, or explain (without echoing it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = raw.strip()
    # postgres:// is what Heroku-style providers hand out; SQLAlchemy wants postgresql.
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    refuse_unencoded_at(raw, "DATABASE_URL")
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
    query, socket_host = url_parameters(url.query, asyncpg=driver == "asyncpg")
    if url.host and socket_host:
        raise DevDbError(
            "DATABASE_URL names a host twice: in the URL and as ?host=",
            "keep one of them",
        )
    return {
        "user": url.username or "postgres",
        "password": url.password or "",
        "host": url.host or socket_host or "localhost",
        "port": port or 5432,
        "database": url.database,
        "exact_target": True,
        "query": query,
    }


def refuse_unencoded_at(raw: str, source: str) -> None:
    """An '@' left in the password makes the rest look like the host: refuse it.

    Nothing of the URL is quoted back: the part before the last '@' is a password.
    """
    try:
        netloc = urlsplit(raw).netloc
    except ValueError:
        netloc = raw.partition("://")[2].partition("/")[0]
    if netloc.count("@") > 1:
        raise DevDbError(
            f"{source} has more than one '@' before the host: the password (or user "
            "name) holds an '@' that is not percent-encoded",
            "percent-encode the password: '@' becomes %40 (and ':' %3A, '/' %2F, "
            "'%' %25), e.g. python3 -c 'import urllib.parse,getpass; "
            'print(urllib.parse.quote(getpass.getpass(), safe=""))\'',
        )


def url_parameters(
    raw: Any, *, asyncpg: bool
) -> tuple[tuple[tuple[str, str], ...], str]:
    """DATABASE_URL's query as libpq parameters, and a socket directory from ?host=.

    An unknown parameter is refused rather than dropped: a silently ignored
    ``sslmode`` would mean plaintext where TLS was asked for.
    """
    pairs: list[tuple[str, str]] = []
    socket_host = ""
    for name, values in raw.items():
        for value in (values,) if isinstance(values, str) else values:
            if asyncpg and name == "ssl":
                # The backend's asyncpg URLs say ssl=; libpq says sslmode=.
                name = "sslmode"
                value = {"true": "require", "false": "disable"}.get(
                    value.lower(), value
                )
            if name == "host":
                if not value.startswith("/"):
                    raise DevDbError(
                        "DATABASE_URL's ?host= is not a socket directory",
                        "put a TCP host in the URL itself (…@HOST:PORT/…); ?host= "
                        "takes a directory such as /var/run/postgresql",
                    )
                socket_host = value
                continue
            if name not in LIBPQ_PARAMETERS:
                raise DevDbError(
                    f"DATABASE_URL has the parameter '{name}', which this toolkit "
                    "does not pass on",
                    "use libpq's parameters (sslmode, sslrootcert, options, ...) or "
                    "put user, password, port and database in the URL itself",
                )
            pairs.append((name, value))
    return tuple(pairs), socket_host
