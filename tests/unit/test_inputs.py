"""Inputs turned into settings: DATABASE_URL, TOML files, numbers, names."""

from __future__ import annotations

import pytest

from devdb.database_url import parse_database_url
from devdb.errors import DevDbError
from devdb.locality import database_locality
from devdb.settings import Settings, load_settings


def settings_from_url(url: str) -> Settings:
    return load_settings({"DATABASE_URL": url})


def test_query_parameters_reach_the_connection() -> None:
    settings = settings_from_url(
        "postgresql://u:p@db.example.com:6543/d"
        "?sslmode=verify-full&sslrootcert=/etc/ca.pem&options=-c%20search_path%3Dx"
    )
    assert dict(settings.query) == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "options": "-c search_path=x",
    }
    url = settings.url()
    assert url.query["sslmode"] == "verify-full"
    assert url.query["options"] == "-c search_path=x"
    parameters = settings.libpq_parameters()
    assert parameters["sslrootcert"] == "/etc/ca.pem"
    assert parameters["host"] == "db.example.com" and parameters["port"] == 6543
    assert "sslmode=verify-full" in settings.safe_url()


def test_a_socket_host_is_local_and_stays_a_socket() -> None:
    settings = settings_from_url("postgresql://u:p@/d?host=/var/run/postgresql")
    assert settings.host == "/var/run/postgresql"
    assert database_locality(settings, {}).local
    assert settings.url().query["host"] == "/var/run/postgresql"
    assert settings.url().host is None
    assert "host=/var/run/postgresql" in settings.safe_url()


def test_asyncpg_ssl_becomes_sslmode() -> None:
    settings = settings_from_url("postgresql+asyncpg://u:p@h/d?ssl=require")
    assert settings.query == (("sslmode", "require"),)


@pytest.mark.parametrize("parameter", ["foo=1", "port=5", "host=db.example.com"])
def test_a_parameter_that_would_be_dropped_is_refused(parameter: str) -> None:
    with pytest.raises(DevDbError):
        parse_database_url(f"postgresql://u:p@h/d?{parameter}")


def test_an_unencoded_at_is_refused_without_quoting_the_url() -> None:
    with pytest.raises(DevDbError) as refused:
        parse_database_url("postgresql://u:se@cret@h:5432/d")
    assert "cret" not in refused.value.render()
    assert "%40" in refused.value.tip
    # Percent-encoded, it is fine.
    assert parse_database_url("postgresql://u:se%40cret@h:5432/d")["password"] == (
        "se@cret"
    )


def test_secret_parameters_are_hidden() -> None:
    settings = settings_from_url("postgresql://u:p@h/d?sslpassword=hush")
    assert "hush" not in settings.safe_url()


@pytest.mark.parametrize(
    "message",
    [
        'x"""\nimport os\n"""',
        'ends with a quote"',
        "back\\slash\\",
        "nul\x00 and\u2028 ls",
    ],
)
def test_a_revision_message_is_one_safe_docstring_line(message: str) -> None:
    import ast

    from devdb.schema.revisions import docstring_line

    line = docstring_line(message)
    module = ast.parse(f'"""{line}"""\n')
    assert len(module.body) == 1
    shown = ast.get_docstring(module, clean=False)
    assert shown is not None and "\n" not in shown
    assert shown == " ".join(message.replace("\x00", "").split())


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("[devdb]\nport = 1.9\n", "'port' in devdb.local.toml must be a whole number"),
        ("[devdb]\nport = true\n", "must be a whole number"),
        ("[devdb]\nhost = 5\n", "'host' in devdb.local.toml must be text"),
        ("[devdb]\nready_timeout = 'soon'\n", "must be a number"),
        ("devdb = [1]\n", "is not a table"),
        ("[devdb]\ncontainer_name = 'a/b'\n", "not a Docker container name"),
    ],
)
def test_bad_settings_files_are_refused_not_coerced(
    tmp_path, toml: str, says: str
) -> None:
    (tmp_path / "devdb.local.toml").write_text(toml)
    with pytest.raises(DevDbError, match=says):
        load_settings({}, project_root=tmp_path)


def test_a_losing_bad_value_is_still_refused(tmp_path) -> None:
    # The environment wins, but the file's mistake is reported all the same.
    (tmp_path / "devdb.local.toml").write_text("[devdb]\nport = 1.9\n")
    with pytest.raises(DevDbError, match=r"devdb\.local\.toml"):
        load_settings({"DEVDB_PORT": "5432"}, project_root=tmp_path)


def test_numbers_from_the_environment_are_validated() -> None:
    assert load_settings({"DEVDB_PORT": "6000"}).port == 6000
    for bad in ("-5", "1.9", "abc"):
        with pytest.raises(DevDbError, match="DEVDB_PORT"):
            load_settings({"DEVDB_PORT": bad})


def test_the_machine_lock_path_is_not_built_from_the_raw_name() -> None:
    from devdb.lifecycle import machine_lock_path

    path = machine_lock_path("../../etc/x")
    assert "/" not in path.name and path.name.endswith(".lock")
    assert machine_lock_path("a/b") != machine_lock_path("a_b")


def test_the_machine_lock_names_its_holder_and_gives_up(tmp_path) -> None:
    import fcntl

    from devdb.lifecycle import machine_lock, machine_lock_path

    name = f"devdb-test-{tmp_path.name}"
    with machine_lock_path(name).open("a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("pid 4242 (invoke db.up)")
        holder.flush()
        with (
            pytest.raises(DevDbError, match="pid 4242"),
            machine_lock(name, wait_seconds=0),
        ):
            pass
    with machine_lock(name, wait_seconds=0):
        pass  # free again
    machine_lock_path(name).unlink()


def test_which_tables_a_downgrade_sql_reaches() -> None:
    from devdb.rows_at_risk import UNBOUNDED_SQL, mentioned

    sql = 'DROP INDEX idx_tick_price;\nDROP TABLE trades;\nALTER TABLE "Quotes" DROP x;'
    assert mentioned("public.trades", sql)
    assert mentioned("public.Quotes", sql)
    assert not mentioned("public.tick_data", sql)  # idx_tick_price is not tick_data
    assert not mentioned("public.trade", sql)
    # SQL that can reach tables it does not name makes every table count.
    for reaching in ("DROP TABLE t CASCADE", "DROP SCHEMA s", "DO $$ BEGIN END $$"):
        assert UNBOUNDED_SQL.search(reaching)
    assert not UNBOUNDED_SQL.search(sql)


SSL_SECRET = "key-pass-" + "7c1e"


def test_no_secret_in_a_repr_or_a_printed_url() -> None:
    import subprocess
    import sys

    from devdb.database import connect_arguments
    from devdb.settings import PROJECT_ROOT

    raw = (
        f"postgresql://u:pw-{SSL_SECRET}@db.example.invalid/d"
        f"?sslmode=verify-full&sslpassword={SSL_SECRET}"
    )
    settings = settings_from_url(raw)
    for shown in (
        repr(settings),
        settings.safe_url(),
        str(settings.url()),
        repr(settings.url()),
        settings.url().render_as_string(),
    ):
        assert SSL_SECRET not in shown, shown
    # The secret still reaches libpq, beside the URL rather than in it.
    assert connect_arguments(settings)["sslpassword"] == SSL_SECRET
    assert settings.libpq_parameters()["sslpassword"] == SSL_SECRET
    printed = subprocess.run(
        [sys.executable, "-m", "invoke", "db.url"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": raw},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert "sslpassword=***" in printed.stdout
    assert SSL_SECRET not in printed.stdout + printed.stderr


def test_database_url_connect_timeout_is_kept() -> None:
    from devdb.database import connect_arguments

    assert connect_arguments(settings_from_url("postgresql://u:p@h/d")) == {
        "connect_timeout": "5",
        "application_name": "devdb",
    }
    own = settings_from_url("postgresql://u:p@h/d?connect_timeout=17")
    assert "connect_timeout" not in connect_arguments(own)  # the URL's 17 stays
    assert own.url().query["connect_timeout"] == "17"
