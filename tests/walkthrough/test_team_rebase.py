"""Two people add the same next revision; a merge brings them together.

The teammate's revision lands on `main`; mine, on a feature branch, is applied to
my dev database with rows in it. After `git merge origin/main` the tools name the
collision, `db.rebase` renumbers mine on top of the teammate's, carries my dev
database across with every row, and the result passes `db.check` and a matrix
cell. A chain of two of mine rebases the same way after a merge resolved by hand,
and a released revision is never rewritten.
"""

from __future__ import annotations

import subprocess
import sys

from helpers import (
    MY_COLUMN_AND_TABLE,
    MY_SECOND,
    THEIR_HYPERTABLE,
    assert_clean_failure,
    ok,
)

from devdb.images.table import reference_image
from devdb.schema.collisions import parse_revision_file
from devdb.schema.revisions import next_revision_id
from devdb.team.renumber import body_of


def following(revision: str) -> str:
    return next_revision_id([revision]) or ""


def test_a_merged_collision_is_named_then_rebased_with_my_rows(team) -> None:
    teammate, me = team
    me.git("switch", "-q", "-c", "feature")
    ok(me.invoke("db.up"))
    mine = me.new_revision("selftest exchange", MY_COLUMN_AND_TABLE)
    my_text = mine.read_text()
    ok(me.invoke("db.upgrade"))
    ok(me.invoke("db.dump-schema"))
    me.commit("selftest exchange")
    ok(me.invoke("db.seed", "--yes"))
    me.sql(
        "INSERT INTO selftest_exchange_notes VALUES ('HOSE', 'main'), ('HNX', 'two')"
    )
    me.sql("UPDATE tick_data SET selftest_exchange = 'HOSE' WHERE symbol < 'M'")
    rows = "SELECT count(*), count(selftest_exchange), sum(price) FROM tick_data"
    rows_before = me.sql(rows)

    theirs = teammate.lands_a_revision_on_main("selftest trades", THEIR_HYPERTABLE)
    their_id = parse_revision_file(theirs).revision
    assert parse_revision_file(mine).revision == their_id, "both took the next id"

    me.git("fetch", "-q")
    merged = me.git("merge", "origin/main", check=False)
    assert merged.returncode != 0, "the generated files conflict"

    for task in ("db.check", "db.status", "db.upgrade"):
        result = me.invoke(task)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert f"revision {their_id} is defined by 2 files" in output, output
        assert mine.name in output and theirs.name in output
        assert "invoke db.rebase" in output
        assert "Traceback" not in output and "UserWarning" not in output
    assert_clean_failure(me.invoke("db.upgrade"), "is defined by 2 files")

    rebased = ok(me.invoke("db.rebase"))
    told = rebased.stdout + rebased.stderr
    my_new_id = following(their_id)
    moved = me.versions / mine.name.replace(their_id, my_new_id, 1)
    assert f"-> {moved.name}" in told
    assert "carried with its rows" in told and "Proved:" in told, told
    assert not mine.exists() and moved.exists()
    assert body_of(moved.read_text()) == body_of(my_text)
    parsed = parse_revision_file(moved)
    assert (parsed.revision, parsed.down_revisions) == (my_new_id, (their_id,))
    assert me.git("diff", "--name-only", "--diff-filter=U").stdout == ""
    me.git("commit", "-q", "--no-edit")

    ok(me.invoke("db.check"))
    ok(me.invoke("db.status", "--check"))
    assert me.sql(rows) == rows_before
    assert "2" in me.sql("SELECT count(*) FROM selftest_exchange_notes")
    assert "t" in me.sql("SELECT to_regclass('selftest_trades') IS NOT NULL")
    assert my_new_id in me.sql("SELECT version_num FROM alembic_version")

    again = ok(me.invoke("db.rebase"))
    assert "Nothing to renumber" in again.stdout + again.stderr
    assert me.git("status", "--porcelain").stdout == ""

    # One matrix cell of my clone, as nox runs it (its tests, the reference row).
    cell = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/matrix/timescaledb", "tests/matrix/reference",
        ],
        cwd=me.clone,
        env={**me.env, "DEVDB_TEST_IMAGE": reference_image().id},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert cell.returncode == 0, cell.stdout[-4000:] + cell.stderr[-2000:]


def test_a_chain_rebases_after_a_merge_resolved_by_hand_and_released_stays(
    team,
) -> None:
    teammate, me = team
    me.git("switch", "-q", "-c", "feature")
    first = me.new_revision("selftest exchange", MY_COLUMN_AND_TABLE)
    second = me.new_revision("selftest venue", MY_SECOND)
    me.commit("two revisions of mine, not dumped yet")
    theirs = teammate.lands_a_revision_on_main("selftest trades", THEIR_HYPERTABLE)
    their_id = parse_revision_file(theirs).revision

    # A hurried merge: generated files taken from main, committed as they are.
    me.git("fetch", "-q")
    if me.git("merge", "origin/main", check=False).returncode != 0:
        conflicted = me.git("diff", "--name-only", "--diff-filter=U").stdout.split()
        me.git("checkout", "--theirs", "--", *conflicted)
        me.git("add", "--", *conflicted)
        me.git("commit", "-q", "--no-edit")
    assert_clean_failure(me.invoke("db.check"), "is defined by 2 files")

    dry = ok(me.invoke("db.rebase", "--dry-run"))
    assert "nothing was changed" in (dry.stdout + dry.stderr)
    assert first.exists() and second.exists()

    ok(me.invoke("db.rebase"))
    one, two = following(their_id), following(following(their_id))
    renamed = {parse_revision_file(p).revision: p for p in me.versions.glob("*.py")}
    assert renamed[one].name.endswith("_selftest_exchange.py")
    assert renamed[two].name.endswith("_selftest_venue.py")
    assert parse_revision_file(renamed[two]).down_revisions == (one,)
    ok(me.invoke("db.check"))
    me.commit("rebased")

    # The teammate's file is released: a rebase never rewrites it.
    theirs_here = me.versions / theirs.name
    theirs_here.write_text(theirs_here.read_text() + "\n# edited after release\n")
    output = assert_clean_failure(
        me.invoke("db.rebase"), f"released revision {their_id}"
    )
    assert "git checkout origin/main" in output
