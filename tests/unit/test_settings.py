"""Settings: DATABASE_URL > DEVDB_* > devdb.local.toml > devdb.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from devdb.database_url import parse_database_url
from devdb.errors import DevDbError
from devdb.settings import Settings, load_settings


def write(root: Path, name: str, body: str) -> None:
    (root / name).write_text("[devdb]\n" + body)


def test_defaults_without_any_configuration(tmp_path):
    settings = load_settings({}, project_root=tmp_path)
    assert (settings.user, settings.host, settings.port, settings.database) == (
        "stock",
        "localhost",
        5432,
        "stock_tracker",
    )
    assert settings.container_name == "stock-tracker-db"
    assert settings.volume_name == "stock-tracker-db-data"
    assert not settings.exact_target


def test_precedence_url_over_environment_over_local_over_project(tmp_path):
    write(
        tmp_path,
        "devdb.toml",
        'port = 5433\ncontainer_name = "proj"\nimage = "pg18-ts2"\n',
    )
    write(tmp_path, "devdb.local.toml", 'port = 5434\ncontainer_name = "local"\n')
    settings = load_settings({"DEVDB_PORT": "5435"}, project_root=tmp_path)
    assert settings.port == 5435  # environment beats both files
    assert settings.container_name == "local"  # local file beats project file
    assert settings.image == "pg18-ts2"  # project file beats defaults
    with_url = load_settings(
        {"DEVDB_PORT": "5435", "DATABASE_URL": "postgresql://a:b@db:6000/x"},
        project_root=tmp_path,
    )
    assert (with_url.host, with_url.port, with_url.database) == ("db", 6000, "x")
    assert with_url.exact_target


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql+asyncpg://u:p@h:5/d",
        "postgres://u:p@h:5/d",
        "postgresql://u:p@h:5/d",
        "postgresql+psycopg2://u:p@h:5/d",
    ],
)
def test_accepted_url_forms(raw):
    fields = parse_database_url(raw)
    assert (fields["user"], fields["password"], fields["host"], fields["port"]) == (
        "u",
        "p",
        "h",
        5,
    )
    assert Settings(**fields).url().drivername == "postgresql+psycopg2"


def test_malformed_url_is_explained_without_echoing_it():
    with pytest.raises(DevDbError) as caught:
        parse_database_url("postgresql://stock:s3cret@localhost:notaport/db")
    assert "s3cret" not in caught.value.render()
    assert caught.value.tip


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("mysql://u:p@h/d", "not PostgreSQL"),
        ("postgresql://u:p@h:5432/", "names no database"),
    ],
)
def test_wrong_scheme_or_missing_database(raw, says):
    with pytest.raises(DevDbError, match=says) as caught:
        parse_database_url(raw)
    assert ":p@" not in caught.value.render()


def test_percent_encoded_password_round_trips():
    settings = Settings(**parse_database_url("postgresql://u:p%40ss%25@h:5/d"))
    assert settings.password == "p@ss%"
    assert "p@ss" not in settings.safe_url() and "***" in settings.safe_url()


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"DEVDB_PORT": "abc"}, "must be a whole number"),
        ({"DEVDB_PORT": "70000"}, "not a TCP port"),
        ({"DEVDB_IMAGE_SOURCE": "somewhere"}, "image_source must be one of"),
    ],
)
def test_bad_values_are_errors_with_a_tip(tmp_path, environ, says):
    with pytest.raises(DevDbError, match=says) as caught:
        load_settings(environ, project_root=tmp_path)
    assert caught.value.tip


def test_unknown_or_invalid_toml_is_an_error(tmp_path):
    write(tmp_path, "devdb.toml", "colour = 'blue'\n")
    with pytest.raises(DevDbError, match="unknown setting"):
        load_settings({}, project_root=tmp_path)
    (tmp_path / "devdb.toml").write_text("[devdb\n")
    with pytest.raises(DevDbError, match="not valid TOML"):
        load_settings({}, project_root=tmp_path)


def test_port_zero_means_any_free_port(tmp_path):
    assert load_settings({"DEVDB_PORT": "0"}, project_root=tmp_path).port == 0


def test_onboarding_remembers_only_what_differs_from_the_project(tmp_path):
    from devdb.local_settings import remember_local_choices

    (tmp_path / "devdb.toml").write_text(
        '[devdb]\nport = 5432\nimage_source = "auto"\n'
    )
    plain = load_settings({}, project_root=tmp_path)
    assert remember_local_choices(plain) == []
    assert not (tmp_path / "devdb.local.toml").exists()

    chosen = load_settings(
        {"DEVDB_PORT": "5433", "DEVDB_CONTAINER_NAME": "mine"}, project_root=tmp_path
    )
    assert remember_local_choices(chosen) == ["container_name", "port"]
    later_shell = load_settings({}, project_root=tmp_path)
    assert (later_shell.port, later_shell.container_name) == (5433, "mine")
    assert remember_local_choices(later_shell) == []
