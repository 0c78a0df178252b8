"""The test databases' pure parts: names, fingerprints, settings SQL, the summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.settings import PROJECT_ROOT
from devdb.snapshots import age, check_name
from devdb.testdb import naming
from devdb.testdb.database_settings import setting_statement, split_list
from devdb.testdb.report import percentile, summary_line

FACTS = naming.ServerFacts("17.12", "2.19.3", "timescale")


@pytest.fixture
def revisions(tmp_path: Path) -> Path:
    """A copy of the project's Alembic folder (its revision files as they are)."""
    copy = tmp_path / "alembic"
    shutil.copytree(PROJECT_ROOT / "backend" / "alembic", copy)
    return copy


def test_the_fingerprint_is_stable_and_names_a_template(revisions: Path) -> None:
    first = naming.template_fingerprint(revisions, FACTS, {"user": "stock"})
    assert first == naming.template_fingerprint(revisions, FACTS, {"user": "stock"})
    name = naming.template_name(first)
    assert naming.is_template_name(name) and len(name) < 63
    assert naming.is_build_name(naming.build_name(name))
    assert not naming.is_template_name(naming.build_name(name))


def test_a_changed_revision_byte_names_another_template(revisions: Path) -> None:
    before = naming.template_fingerprint(revisions, FACTS, {"user": "stock"})
    [first] = sorted((revisions / "versions").glob("*.py"))[:1]
    first.write_bytes(first.read_bytes() + b"\n")
    assert naming.template_fingerprint(revisions, FACTS, {"user": "stock"}) != before


def test_a_new_file_beside_the_revisions_counts_and_caches_do_not(
    revisions: Path,
) -> None:
    before = naming.template_fingerprint(revisions, FACTS, {})
    cache = revisions / "versions" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "x.pyc").write_bytes(b"compiled")
    assert naming.template_fingerprint(revisions, FACTS, {}) == before
    (revisions / "versions" / "prices.sql").write_text("SELECT 1")
    assert naming.template_fingerprint(revisions, FACTS, {}) != before


@pytest.mark.parametrize(
    "other",
    [
        naming.ServerFacts("17.13", "2.19.3", "timescale"),
        naming.ServerFacts("17.12", "2.29.2", "timescale"),
        naming.ServerFacts("17.12", "2.19.3", "apache"),
    ],
)
def test_the_server_names_the_template_too(revisions: Path, other) -> None:
    assert naming.template_fingerprint(
        revisions, other, {}
    ) != naming.template_fingerprint(revisions, FACTS, {})


def test_the_settings_that_shape_the_schema_name_the_template(revisions: Path) -> None:
    assert naming.template_fingerprint(
        revisions, FACTS, {"user": "stock"}
    ) != naming.template_fingerprint(revisions, FACTS, {"user": "backend"})


def test_clone_names_carry_their_owner_and_nothing_else_looks_like_one() -> None:
    owner = naming.owner_prefix("a-run-id", "gw2")
    assert owner.startswith(naming.CLONE_PREFIX) and owner.endswith("_gw2")
    assert naming.owner_of(naming.clone_name(owner, 17)) == owner
    assert naming.owner_prefix("a-run-id", "gw2") == owner
    assert naming.owner_prefix("another-run", "gw2") != owner
    for name in ("stock_tracker", "devdb_tpl_0123456789abcdef", "devdb_t_x_gw0_1"):
        assert naming.owner_of(name) is None


def test_lock_keys_are_postgres_int4() -> None:
    keys = {naming.lock_key(f"name {n}") for n in range(2000)}
    assert all(-(2**31) <= key < 2**31 for key in keys)
    assert len(keys) == 2000


def test_a_template_record_reads_back_what_it_wrote() -> None:
    record = naming.TemplateRecord("f" * 64, ("001",), (1000, 1001), 5.0, 1.25)
    assert naming.TemplateRecord.from_comment(record.as_comment()) == record
    assert naming.TemplateRecord.from_comment("someone's comment") is None
    assert naming.TemplateRecord.from_comment('{"devdb": "snapshot"}') is None
    assert naming.is_kept(naming.kept_comment("tests/x.py::test_y"))
    assert not naming.is_kept(None)


@pytest.mark.parametrize(
    ("stored", "names"),
    [
        ('"$user", public', ["$user", "public"]),
        ('a, "B c", "d""e"', ["a", "B c", 'd"e']),
        ("public", ["public"]),
        ('""', [""]),
    ],
)
def test_list_settings_are_split_as_postgres_stores_them(stored, names) -> None:
    assert split_list(stored) == names


def test_settings_statements_quote_values_and_keep_list_elements_apart() -> None:
    assert (
        setting_statement("devdb_t_1", None, "search_path", '"$user", public')
        == "ALTER DATABASE \"devdb_t_1\" SET \"search_path\" = '$user', 'public'"
    )
    assert (
        setting_statement("d", None, "timezone", "Asia/Ho_Chi_Minh")
        == 'ALTER DATABASE "d" SET "timezone" = \'Asia/Ho_Chi_Minh\''
    )
    assert setting_statement("d", "app", "work_mem", "64MB") == (
        'ALTER ROLE "app" IN DATABASE "d" SET "work_mem" = \'64MB\''
    )
    assert setting_statement("d", None, "app.note", "it's") == (
        'ALTER DATABASE "d" SET "app"."note" = \'it\'\'s\''
    )


def process(**overrides) -> dict:
    stats = {
        "server": "the dev container x",
        "kind": "dev",
        "template": "devdb_tpl_0123456789abcdef",
        "built": False,
        "template_seconds": 0.01,
        "clone_seconds": [0.03, 0.04],
        "drop_seconds": [0.01, 0.01],
        "failures": 0,
        "retries": 0,
        "kept": [],
        "reaped": 0,
        "removed_templates": [],
    }
    return {**stats, **overrides}


def test_the_summary_says_reused_or_built_and_adds_up_the_processes() -> None:
    line = summary_line([process(), process()])
    assert line.startswith("devdb: template devdb_tpl_0123456789abcdef reused on ")
    assert "4 clones (p50 35 ms" in line and "0 clone failures" in line
    assert "\n" not in line
    built = summary_line([process(), process(built=True, template_seconds=1.5)])
    assert "built in 1.5 s" in built


def test_the_summary_names_kept_databases_and_cleanups() -> None:
    line = summary_line(
        [
            process(kept=["devdb_t_a_gw0_3"], reaped=2),
            process(removed_templates=["devdb_tpl_aaaaaaaaaaaaaaaa"], retries=1),
        ]
    )
    assert "1 kept (devdb_t_a_gw0_3)" in line
    assert "2 left over by earlier runs dropped" in line
    assert "old template removed: devdb_tpl_aaaaaaaaaaaaaaaa" in line
    assert "1 clone retries" in line


def test_no_database_no_summary() -> None:
    assert summary_line([]) == ""


def test_percentiles_by_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize("name", ["before-002", "a", "x_1", "2026-02-11"])
def test_snapshot_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Before", "-x", "a b", "a;drop", "x" * 41])
def test_bad_snapshot_names_are_refused_with_a_tip(name: str) -> None:
    with pytest.raises(DevDbError) as refused:
        check_name(name)
    assert "before-002" in refused.value.tip


def test_ages_read_like_people_say_them() -> None:
    assert age(100.0, now=130.0) == "30 s"
    assert age(0.0, now=7200.0) == "2 h"
    assert age(0.0, now=3 * 86400.0) == "3 d"
