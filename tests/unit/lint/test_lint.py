"""db.lint's rules on SQL snippets, the committed revisions, and a fixture revision."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from devdb.errors import DevDbError
from devdb.images.table import IMAGES
from devdb.lint import rules as lint_rules
from devdb.lint import run as lint
from devdb.settings import PROJECT_ROOT, load_settings

CONTEXT = lint.LintContext(
    hypertables=frozenset(lint_rules.SEED_HYPERTABLES),
    apache_rows=(),
    oldest_timescaledb=(2, 19),
    oldest_row="pg17-ts2.19",
)


def rules(sql: str, context: lint.LintContext = CONTEXT) -> list[str]:
    return [finding.rule for finding in lint.lint_sql(textwrap.dedent(sql), context)]


def in_transaction(statement: str) -> str:
    return f"BEGIN;\n\n{statement};\n\nCOMMIT;\n"


def outside_transaction(statement: str) -> str:
    return f"BEGIN;\n\nCOMMIT;\n\n{statement};\n\nBEGIN;\n\nCOMMIT;\n"


CAGG = (
    "CREATE MATERIALIZED VIEW candles_5m WITH (timescaledb.continuous) AS\n"
    "SELECT symbol, time_bucket('5 minutes', timestamp) AS bucket, max(price)\n"
    "  FROM tick_data GROUP BY 1, 2"
)


def test_continuous_aggregate_with_data_in_a_transaction_is_flagged():
    assert rules(in_transaction(CAGG)) == ["timescaledb-cagg-with-data-in-transaction"]
    assert rules(in_transaction(CAGG + " WITH DATA")) == [
        "timescaledb-cagg-with-data-in-transaction"
    ]
    assert rules(in_transaction(CAGG + " WITH NO DATA")) == []
    assert rules(outside_transaction(CAGG + " WITH DATA")) == []


def test_refresh_in_a_transaction_is_flagged_and_fine_outside():
    call = "CALL refresh_continuous_aggregate('candles_5m', NULL, NULL)"
    assert rules(in_transaction(call)) == ["timescaledb-refresh-in-transaction"]
    assert rules(outside_transaction(call)) == []


def test_concurrently_on_a_hypertable_but_not_on_a_plain_table():
    on_hypertable = "CREATE INDEX CONCURRENTLY ix ON public.tick_data (price)"
    assert rules(outside_transaction(on_hypertable)) == [
        "timescaledb-concurrently-on-hypertable"
    ]
    assert rules(outside_transaction("CREATE INDEX CONCURRENTLY ix ON users (x)")) == []


def test_per_chunk_index_needs_to_be_outside_the_transaction():
    index = (
        "CREATE INDEX ix ON tick_data (price) WITH (timescaledb.transaction_per_chunk)"
    )
    assert rules(in_transaction(index)) == [
        "timescaledb-per-chunk-index-in-transaction"
    ]
    assert rules(outside_transaction(index)) == []


def test_tsl_only_calls_flagged_while_an_apache_row_exists():
    apache = replace(CONTEXT, apache_rows=("pg17-ts2.19",))
    policy = "SELECT add_compression_policy('tick_data', INTERVAL '7 days')"
    compress = "ALTER TABLE tick_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol')"
    assert rules(in_transaction(policy), apache) == ["timescaledb-tsl-only"]
    assert "timescaledb-tsl-only" in rules(in_transaction(compress), apache)
    assert rules(in_transaction(policy)) == []  # every row a full build: fine


def test_a_recorded_licence_decides_which_rows_count_as_apache():
    full, apache, plain = (
        type("Row", (), {"id": i, "timescaledb": ts, "licence": lic})()
        for i, ts, lic in (
            ("full", "2.19", "timescale"),
            ("apt", "2.", "apache"),
            ("plain", None, "none"),
        )
    )
    assert lint_rules.apache_rows([full, apache, plain]) == ("apt",)
    assert lint_rules.apache_rows([full, plain]) == ()


def test_apache_rows_come_from_the_image_table():
    # A row that records no licence may be Apache-only.
    expected = tuple(
        spec.id
        for spec in IMAGES
        if spec.timescaledb is not None
        and getattr(spec, "licence", "apache") not in ("timescale", "none")
    )
    assert lint_rules.apache_rows() == expected
    assert "pg15-plain" not in lint_rules.apache_rows()


def test_constructs_newer_than_the_oldest_image_are_flagged():
    table = "CREATE TABLE trades (t timestamptz NOT NULL) WITH (tsdb.hypertable, tsdb.partition_column = 't')"
    assert rules(in_transaction(table)) == ["timescaledb-newer-than-oldest-image"]
    newer = replace(CONTEXT, oldest_timescaledb=(2, 20))
    assert rules(in_transaction(table), newer) == []


def test_oldest_timescaledb_ignores_rows_without_a_minor_version():
    [template] = [spec for spec in IMAGES if spec.reference]
    rows = [
        replace(template, id="moving", timescaledb="2."),  # a suite that moves
        replace(template, id="newer", timescaledb="2.29"),
        replace(template, id="older", timescaledb="2.19"),
        replace(template, id="plain", timescaledb=None),
    ]
    assert lint_rules.oldest_timescaledb(rows) == ((2, 19), "older")


def test_alter_table_on_a_hypertable_needs_a_lock_timeout():
    alter = "ALTER TABLE tick_data ADD COLUMN venue text"
    assert rules(in_transaction(alter)) == ["timescaledb-ddl-without-lock-timeout"]
    local = "BEGIN;\n\nSET LOCAL lock_timeout = '5s';\n\n" + alter + ";\n\nCOMMIT;\n"
    assert rules(local) == []
    # SET LOCAL ends with its transaction; the next revision needs its own.
    assert rules(local + in_transaction(alter)) == [
        "timescaledb-ddl-without-lock-timeout"
    ]
    assert rules(in_transaction("ALTER TABLE users ADD COLUMN x text")) == []


def test_statements_split_past_quotes_comments_and_function_bodies():
    sql = textwrap.dedent(
        """\
        BEGIN;

        -- Running upgrade 001 -> 002

        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;

        SELECT ';' AS "a;b" /* ; */;

        COMMIT;
        """
    )
    statements = lint.annotate(sql)
    assert [s.line for s in statements] == [1, 5, 7, 9]
    assert statements[1].text.endswith("LANGUAGE sql")
    assert [s.in_transaction for s in statements] == [True, True, True, False]


def test_line_finder_follows_statements_split_over_string_literals():
    source = textwrap.dedent(
        """\
        def upgrade() -> None:
            op.execute(
                "CREATE INDEX IF NOT EXISTS idx_tick_symbol_time "
                "ON tick_data (symbol, timestamp DESC)"
            )
        """
    )
    finder = lint.LineFinder(source)
    statement = "CREATE INDEX IF NOT EXISTS idx_tick_symbol_time ON tick_data (symbol, timestamp DESC)"
    assert finder.find(statement) == 3


def test_committed_revisions_lint_clean():
    settings = load_settings({})
    assert lint.lint(settings) == [lint.lint(settings)[0]]  # no DevDbError raised
    count, findings = lint.lint_revisions(settings, include_released=True)
    assert count >= 1
    assert [f for f in findings if f.rule.startswith("timescaledb-")] == []


@pytest.fixture
def project_with(tmp_path: Path):
    """A copy of backend/ and db/ with one extra revision file."""

    def make(body: str) -> Path:
        shutil.copytree(PROJECT_ROOT / "backend", tmp_path / "backend")
        shutil.copytree(PROJECT_ROOT / "db", tmp_path / "db")
        versions = tmp_path / "backend" / "alembic" / "versions"
        head = sorted(p.stem.split("_")[0] for p in versions.glob("*.py"))[-1]
        revision = "zz_lint_fixture"
        (versions / f"{revision}.py").write_text(
            f'"""A lint fixture."""\nfrom alembic import op\n\nrevision = "{revision}"\n'
            f'down_revision = "{head}"\n\n\n' + textwrap.dedent(body),
            encoding="utf-8",
        )
        return tmp_path

    return make


def test_a_naive_aggregate_revision_is_flagged_with_file_line_and_fix(project_with):
    root = project_with(
        '''\
        def upgrade() -> None:
            op.execute("""
                CREATE MATERIALIZED VIEW candles_5m WITH (timescaledb.continuous) AS
                SELECT symbol, time_bucket('5 minutes', timestamp) AS bucket,
                       max(price) AS high
                  FROM tick_data GROUP BY 1, 2
            """)


        def downgrade() -> None:
            op.execute("DROP MATERIALIZED VIEW candles_5m")
        '''
    )
    settings = load_settings({}, project_root=root)
    _, findings = lint.lint_revisions(settings, include_released=True)
    naive = [
        f for f in findings if f.rule == "timescaledb-cagg-with-data-in-transaction"
    ]
    assert len(naive) == 1, [f.render() for f in findings]
    assert naive[0].path.endswith("zz_lint_fixture.py")
    assert naive[0].line == 10 and not naive[0].sql_line
    assert "autocommit_block" in naive[0].fix
    with pytest.raises(DevDbError, match=r"db\.lint found") as failed:
        lint.lint(settings, include_released=True)
    assert "db.lint" in failed.value.tip


def test_the_autocommit_pattern_passes_and_squawk_keeps_quiet_on_per_chunk(
    project_with,
):
    root = project_with(
        """\
        def upgrade() -> None:
            with op.get_context().autocommit_block():
                op.execute(
                    "CREATE INDEX IF NOT EXISTS ix_tick_price ON tick_data (price) "
                    "WITH (timescaledb.transaction_per_chunk)"
                )


        def downgrade() -> None:
            op.execute("DROP INDEX IF EXISTS ix_tick_price")
        """
    )
    settings = load_settings({}, project_root=root)
    _, findings = lint.lint_revisions(settings, include_released=True)
    mine = [f.render() for f in findings if "zz_lint_fixture" in f.path]
    assert mine == []


def test_a_blocking_index_on_a_hypertable_gets_timescaledbs_fix_not_concurrently(
    project_with,
):
    # The schema-change workflow's own example: a nullable VARCHAR column and an
    # index on tick_data, written as anyone would first write them.
    root = project_with(
        """\
        def upgrade() -> None:
            op.execute("ALTER TABLE tick_data ADD COLUMN exchange VARCHAR(10)")
            op.execute("CREATE INDEX idx_tick_exchange ON tick_data (exchange)")
            op.execute("CREATE TABLE venues (code VARCHAR(10) PRIMARY KEY)")
            op.execute("CREATE INDEX idx_venues_code ON venues (code)")


        def downgrade() -> None:
            op.execute("DROP TABLE venues")
            op.execute("DROP INDEX idx_tick_exchange")
            op.execute("ALTER TABLE tick_data DROP COLUMN exchange")
        """
    )
    settings = load_settings({}, project_root=root)
    _, findings = lint.lint_revisions(settings, include_released=True)
    mine = [f for f in findings if "zz_lint_fixture" in f.path]
    index = [f for f in mine if f.rule == "squawk/require-concurrent-index-creation"]
    assert [f.line for f in index] == [10], [f.render() for f in mine]
    assert "transaction_per_chunk" in index[0].fix
    assert "autocommit_block" in index[0].fix
    assert "CONCURRENTLY, is not supported on hypertables" in index[0].why
    # The schema's VARCHAR(n) convention is not a finding.
    assert not [f for f in mine if "text-field" in f.rule]


def test_a_per_chunk_index_that_cannot_be_rerun_is_told_if_not_exists(project_with):
    root = project_with(
        """\
        def upgrade() -> None:
            with op.get_context().autocommit_block():
                op.execute(
                    "CREATE INDEX ix_tick_price ON tick_data (price) "
                    "WITH (timescaledb.transaction_per_chunk)"
                )


        def downgrade() -> None:
            op.execute("DROP INDEX IF EXISTS ix_tick_price")
        """
    )
    settings = load_settings({}, project_root=root)
    _, findings = lint.lint_revisions(settings, include_released=True)
    mine = [f for f in findings if "zz_lint_fixture" in f.path]
    assert [f.rule for f in mine] == ["squawk/prefer-robust-stmts"], mine
    assert "IF NOT EXISTS" in mine[0].fix and "concurrently" not in mine[0].fix


def test_a_column_type_change_on_a_compressed_hypertable_is_flagged():
    change = (
        "SET LOCAL lock_timeout = '5s';\n\n"
        "ALTER TABLE tick_data ALTER COLUMN price TYPE numeric(14,2)"
    )
    compressed = replace(CONTEXT, compressed=frozenset({"tick_data"}))
    assert rules(in_transaction(change), compressed) == [
        "timescaledb-ddl-on-compressed-hypertable"
    ]
    assert rules(in_transaction(change)) == []  # no compression: nothing to fear
    # Compression turned on earlier in the linted SQL counts as well.
    enable = "ALTER TABLE tick_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol')"
    context = replace(
        CONTEXT,
        compressed=lint_rules.compressed_hypertables(Path("/nonexistent"), [enable]),
    )
    assert rules(in_transaction(change), context) == [
        "timescaledb-ddl-on-compressed-hypertable"
    ]
