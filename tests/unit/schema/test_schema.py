"""The schema contract's pure parts: dump normalisation, the manifest, checksums."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from devdb import errors
from devdb.containers import dev as devcontainer
from devdb.errors import DevDbError
from devdb.schema import checksums, contract, dump
from devdb.schema import manifest as manifests
from devdb.schema.checksums import SumEntry
from devdb.schema.manifest import (
    CompressionColumn,
    ContinuousAggregate,
    Dimension,
    Job,
)
from devdb.settings import PROJECT_ROOT, Settings

# What pg_dump 17.12 writes for a TimescaleDB 2.19 database, trimmed, plus a
# function and trigger of our own whose SET clause and body must survive.
RAW_DUMP = """\
--
-- PostgreSQL database dump
--

\\restrict Dz23AqjJJrMHH25B9wjYZThW8xr8AjGwiCS94zK5FxB89z2TNiXrXDdNpWXcagE

-- Dumped from database version 17.12 (Debian 17.12-0+deb13u1)
-- Dumped by pg_dump version 17.12 (Debian 17.12-0+deb13u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: timescaledb; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;


--
-- Name: EXTENSION timescaledb; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION timescaledb IS 'Enables scalable inserts and complex queries for time-series data (Apache 2 Edition)';


--
-- Name: touch(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'public'
    AS $$
BEGIN
    -- keep the row's time
    RETURN NEW;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: tick_data; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tick_data (
    symbol character varying(10) NOT NULL,
    "timestamp" timestamp with time zone NOT NULL
);


--
-- Name: TABLE tick_data; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.tick_data IS 'one row per trade';


--
-- Name: idx_tick_symbol_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tick_symbol_time ON public.tick_data USING btree (symbol, "timestamp" DESC);


--
-- Name: tick_data ts_insert_blocker; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ts_insert_blocker BEFORE INSERT ON public.tick_data FOR EACH ROW EXECUTE FUNCTION _timescaledb_functions.insert_blocker();


--
-- Name: tick_data touch; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER touch BEFORE INSERT ON public.tick_data FOR EACH ROW EXECUTE FUNCTION public.touch();


--
-- PostgreSQL database dump complete
--

\\unrestrict Dz23AqjJJrMHH25B9wjYZThW8xr8AjGwiCS94zK5FxB89z2TNiXrXDdNpWXcagE

"""

EXPECTED_BODY = """\
CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'public'
    AS $$
BEGIN
    -- keep the row's time
    RETURN NEW;
END
$$;

CREATE TABLE public.tick_data (
    symbol character varying(10) NOT NULL,
    "timestamp" timestamp with time zone NOT NULL
);

COMMENT ON TABLE public.tick_data IS 'one row per trade';

CREATE INDEX idx_tick_symbol_time ON public.tick_data USING btree (symbol, "timestamp" DESC);

CREATE TRIGGER touch BEFORE INSERT ON public.tick_data FOR EACH ROW EXECUTE FUNCTION public.touch();
"""


# --- normalisation ----------------------------------------------------------------


def test_normalise_keeps_the_sql_and_drops_everything_volatile() -> None:
    assert dump.normalise_dump(RAW_DUMP) == EXPECTED_BODY


def test_normalised_dump_has_no_restrict_set_or_pg_dump_comment() -> None:
    lines = dump.normalise_dump(RAW_DUMP).splitlines()
    assert not [
        line for line in lines if line.startswith(("\\restrict", "\\unrestrict"))
    ]
    assert not [line for line in lines if line.startswith("SET ")]
    assert not [line for line in lines if line == "--" or line.startswith("-- Name:")]
    assert "COMMENT ON EXTENSION" not in "\n".join(lines)


def test_another_key_server_version_and_line_endings_give_the_same_bytes() -> None:
    other_run = (
        RAW_DUMP.replace(
            "Dz23AqjJJrMHH25B9wjYZThW8xr8AjGwiCS94zK5FxB89z2TNiXrXDdNpWXcagE", "x1Y2"
        )
        .replace("17.12 (Debian 17.12-0+deb13u1)", "17.6")
        .replace("(Apache 2 Edition)", "")
        .replace("\n", "\r\n")
    )
    assert dump.normalise_dump(other_run) == dump.normalise_dump(RAW_DUMP)


def test_normalising_twice_changes_nothing() -> None:
    once = dump.normalise_dump(RAW_DUMP)
    assert dump.normalise_dump(once) == once


def test_an_empty_database_dumps_to_nothing() -> None:
    assert (
        dump.normalise_dump("--\n-- PostgreSQL database dump\n--\n\nSET a = 1;\n") == ""
    )


def test_normalise_tolerates_a_dump_without_a_final_newline() -> None:
    raw = (
        "--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t (a int);\n\n--\n-- x\n--"
    )
    assert dump.normalise_dump(raw) == "CREATE TABLE t (a int);\n"


def test_pg_dump_command_carries_no_password() -> None:
    settings = Settings(password="s3cret-pw")
    command = dump.pg_dump_command(settings)
    assert "s3cret-pw" not in " ".join(command)
    assert command[:4] == ["pg_dump", "--schema-only", "--no-owner", "--no-privileges"]
    assert "--exclude-schema=_timescaledb*" in command
    assert "--exclude-table=public.alembic_version" in command


# --- the manifest -----------------------------------------------------------------


def dimension(table: str, number: int = 1, **overrides: object) -> Dimension:
    values = {
        "hypertable": f"public.{table}",
        "number": number,
        "column": "timestamp",
        "column_type": "timestamp with time zone",
        "kind": "Time",
        "interval": "7 days",
        "partitions": "",
        "integer_now": "",
    }
    values.update(overrides)
    return Dimension(**values)  # type: ignore[arg-type]


def test_manifest_is_sorted_whatever_order_the_catalog_returns() -> None:
    rows = [
        dimension(
            "tick_data",
            2,
            column="symbol",
            column_type="character varying",
            kind="Space",
            interval="",
            partitions="4",
        ),
        dimension("candles_1m"),
        dimension("tick_data"),
    ]
    forwards = manifests.build_manifest(dimensions=rows, revisions=["001"])
    backwards = manifests.build_manifest(dimensions=reversed(rows), revisions=["001"])
    assert manifests.format_manifest(forwards) == manifests.format_manifest(backwards)
    assert manifests.format_manifest(forwards) == textwrap.dedent("""\
        -- TimescaleDB manifest (a schema-only dump does not record these)
        -- hypertable public.candles_1m
        --   dimension 1: timestamp (timestamp with time zone), time, chunk interval 7 days
        -- hypertable public.tick_data
        --   dimension 1: timestamp (timestamp with time zone), time, chunk interval 7 days
        --   dimension 2: symbol (character varying), space, 4 partitions

        -- alembic revision: 001
        """)


def test_manifest_lists_compression_jobs_and_continuous_aggregates() -> None:
    manifest = manifests.build_manifest(
        dimensions=[dimension("tick_data")],
        compressed=["public.tick_data"],
        compression=[
            CompressionColumn("public.tick_data", "timestamp", None, 1, False, True),
            CompressionColumn("public.tick_data", "symbol", 1, None, None, None),
            CompressionColumn("public.tick_data", "price", None, 2, True, True),
        ],
        jobs=[
            Job(
                "_timescaledb_functions.policy_retention",
                "public.tick_data",
                "1 day",
                '{"drop_after": "30 days"}',
            ),
            Job(
                "_timescaledb_functions.policy_compression",
                "public.tick_data",
                "12:00:00",
                '{"compress_after": "7 days"}',
            ),
        ],
        continuous_aggregates=[
            ContinuousAggregate(
                "public.candles_1h",
                "public.candles_1m",
                True,
                " SELECT symbol,\n    max(high) AS high\n   FROM x;",
            ),
        ],
    )
    text = manifests.format_manifest(manifest, include_revision=False)
    assert text == textwrap.dedent("""\
        -- TimescaleDB manifest (a schema-only dump does not record these)
        -- hypertable public.tick_data (compression enabled)
        --   dimension 1: timestamp (timestamp with time zone), time, chunk interval 7 days
        --   compression: segment by symbol; order by timestamp DESC, price ASC NULLS FIRST
        -- job _timescaledb_functions.policy_compression on public.tick_data, every 12:00:00, config {"compress_after": "7 days"}
        -- job _timescaledb_functions.policy_retention on public.tick_data, every 1 day, config {"drop_after": "30 days"}
        -- continuous aggregate public.candles_1h on public.candles_1m (materialized only)
        --   SELECT symbol,
        --       max(high) AS high
        --      FROM x;
        """)


def test_manifest_without_timescaledb_or_hypertables_says_so() -> None:
    bare = manifests.format_manifest(manifests.Manifest(timescaledb_installed=False))
    assert "timescaledb is not installed" in bare
    assert "-- alembic revision: base" in bare
    assert "-- (no hypertables)" in manifests.format_manifest(manifests.Manifest())


# --- the checksum list ----------------------------------------------------------------

REVISION = '''\
"""{doc}"""
revision = "{revision}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def write_revision(
    script: Path, revision: str, down: str | None, doc: str = ""
) -> Path:
    path = script / "versions" / f"{revision}_rev.py"
    path.write_text(
        REVISION.format(revision=revision, down=repr(down), doc=doc or revision)
    )
    return path


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """A script location with two revisions, 001 <- 002 (read, never run)."""
    location = tmp_path / "alembic"
    (location / "versions").mkdir(parents=True)
    write_revision(location, "001", None)
    write_revision(location, "002", "001")
    return location


def problems_of(script: Path, sum_file: Path) -> list[errors.Problem]:
    return checksums.checksum_problems(
        checksums.read_sum(sum_file),
        checksums.current_entries(script),
        sum_file=sum_file,
        script_location=script,
    )


def test_record_lists_every_revision_oldest_first(script: Path, tmp_path: Path) -> None:
    sum_file = tmp_path / "alembic.sum"
    assert checksums.record_revisions(script, sum_file) == ["001", "002"]
    entries = checksums.read_sum(sum_file)
    assert [(e.revision, e.path) for e in entries] == [
        ("001", "versions/001_rev.py"),
        ("002", "versions/002_rev.py"),
    ]
    assert sum_file.read_text().startswith("# sha256 of each Alembic revision file")
    assert checksums.record_revisions(script, sum_file) == []


def test_record_never_rewrites_an_existing_line(script: Path, tmp_path: Path) -> None:
    sum_file = tmp_path / "alembic.sum"
    checksums.record_revisions(script, sum_file)
    before = sum_file.read_text()
    write_revision(script, "002", "001", doc="edited after release")
    write_revision(script, "003", "002")
    assert checksums.record_revisions(script, sum_file) == ["003"]
    after = sum_file.read_text()
    assert after.startswith(before)  # old lines untouched, the new one appended
    assert after.count("\n") == before.count("\n") + 1


def test_rehash_re_records_on_purpose(script: Path, tmp_path: Path) -> None:
    sum_file = tmp_path / "alembic.sum"
    checksums.record_revisions(script, sum_file)
    write_revision(script, "002", "001", doc="still a draft")
    assert checksums.record_revisions(script, sum_file, rehash=["002"]) == ["002"]
    assert problems_of(script, sum_file) == []
    with pytest.raises(DevDbError, match="cannot rehash 999"):
        checksums.record_revisions(script, sum_file, rehash=["999"])


def test_checksum_problems_name_the_change(script: Path, tmp_path: Path) -> None:
    sum_file = tmp_path / "alembic.sum"
    checksums.record_revisions(script, sum_file)
    write_revision(script, "001", None, doc="edited after release")
    (script / "versions" / "002_rev.py").unlink()
    write_revision(script, "003", "001")

    problems = problems_of(script, sum_file)
    messages = [problem.message for problem in problems]
    assert len(messages) == 3, messages
    assert messages[0].startswith(
        f"released revision 001 changed ({script}/versions/001_rev.py): "
        f"checksum mismatch, {sum_file} records sha256:"
    )
    assert messages[1] == (
        f"revision 002 is listed in {sum_file} (versions/002_rev.py) but no "
        "revision file defines it any more"
    )
    assert messages[2] == (
        f"revision 003 ({script}/versions/003_rev.py) is not listed in {sum_file}"
    )
    assert f"git checkout -- {script}/versions/001_rev.py" in problems[0].tip


def test_line_endings_are_not_a_change(tmp_path: Path) -> None:
    unix, windows = tmp_path / "unix.py", tmp_path / "windows.py"
    unix.write_bytes(b"revision = '001'\nx = 1\n")
    windows.write_bytes(b"revision = '001'\r\nx = 1\r\n")
    assert checksums.file_digest(unix) == checksums.file_digest(windows)


def test_sum_lines_round_trip_and_bad_lines_are_explained() -> None:
    entry = SumEntry("001", "ab" * 32, "versions/001 create.py")
    assert checksums.parse_sum(checksums.format_sum([entry])) == [entry]
    with pytest.raises(DevDbError, match="line 2, is not `REVISION sha256:HEX PATH`"):
        checksums.parse_sum(
            "# header\n001 md5:abc versions/001.py\n", name="alembic.sum"
        )


def test_the_committed_sum_file_matches_the_revisions() -> None:
    sum_file = PROJECT_ROOT / "db" / "alembic.sum"
    assert checksums.read_sum(sum_file), "db/alembic.sum lists no revision"
    assert problems_of(PROJECT_ROOT / "backend" / "alembic", sum_file) == []


def test_two_heads_are_a_problem(script: Path) -> None:
    assert contract.head_problems(script) == []
    write_revision(script, "003", "001")
    [problem] = contract.head_problems(script)
    assert problem.message.startswith("the revisions have 2 heads: 002 (")
    assert "003_rev.py" in problem.message
    assert "invoke db.rebase" in problem.tip


def test_a_dangling_down_revision_is_explained(script: Path) -> None:
    (script / "versions" / "001_rev.py").unlink()
    [problem] = contract.head_problems(script)
    assert "builds on revision '001', which no file defines" in problem.message
    assert "002_rev.py" in problem.message


def test_report_renders_diff_then_problems_and_one_error() -> None:
    report = contract.ContractReport(
        "pg17-ts2.19",
        (errors.Problem("first", "do a"), errors.Problem("second", "do b")),
        "--- a\n+++ b\n-x\n+y",
    )
    assert report.render() == "--- a\n+++ b\n-x\n+y\n- first\n- second\n"
    error = report.error()
    assert error is not None
    assert error.render() == (
        "ERROR: the schema contract is broken (2 problems, listed above)\nTIP: do a"
    )
    assert contract.ContractReport("pg17-ts2.19").error() is None


# --- where the dump comes from ------------------------------------------------------


def test_a_database_url_elsewhere_is_refused_without_touching_docker() -> None:
    elsewhere = replace(
        Settings(), host="db.example.com", password="hunter2", exact_target=True
    )
    with pytest.raises(DevDbError) as caught:
        devcontainer.dev_database(elsewhere)
    assert "not at the dev container" in caught.value.message
    assert "hunter2" not in caught.value.render()
    assert "unset DATABASE_URL" in caught.value.tip


def test_dump_schema_task_reports_error_and_tip(tmp_path: Path) -> None:
    invoke = Path(sys.executable).parent / "invoke"
    result = subprocess.run(
        [str(invoke), "db.dump-schema"],
        cwd=PROJECT_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgresql://u:pw9@db.example.com/x",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: DATABASE_URL points at")
    assert "\nTIP: unset DATABASE_URL" in result.stderr
    assert "pw9" not in result.stdout + result.stderr


def test_tables_come_in_name_order_whatever_pg_dump_chose() -> None:
    """A hypertable with chunks is dumped early; the contract must not care."""
    empty = "CREATE TABLE public.a (\n    x integer\n);\n\nCREATE TABLE public.b (\n    y integer\n);\n\nCREATE INDEX i ON public.a USING btree (x);\n"
    with_rows = "CREATE TABLE public.b (\n    y integer\n);\n\nCREATE TABLE public.a (\n    x integer\n);\n\nCREATE INDEX i ON public.a USING btree (x);\n"
    assert dump.normalise_dump(with_rows) == dump.normalise_dump(empty) == empty
