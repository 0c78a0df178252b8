"""A branch switch with the dev database on the other branch's revision.

My revision is applied (with a row in its table) when I check out `main`, which
holds a teammate's revision with the same id. The tools name the mismatch, never
write `db/schema.sql` from the other branch's schema, and `db.upgrade` moves the
database to the branch at hand — asking first, since my table holds a row — and
back again on my branch.
"""

from __future__ import annotations

from helpers import MY_COLUMN_AND_TABLE, THEIR_HYPERTABLE, assert_clean_failure, ok

from devdb.schema.collisions import parse_revision_file


def test_a_branch_switch_is_named_and_db_upgrade_moves_there_and_back(team) -> None:
    teammate, me = team
    theirs = teammate.lands_a_revision_on_main("selftest trades", THEIR_HYPERTABLE)
    me.git("switch", "-q", "-c", "feature")
    ok(me.invoke("db.up"))
    mine = me.new_revision("selftest exchange", MY_COLUMN_AND_TABLE)
    ok(me.invoke("db.upgrade"))
    ok(me.invoke("db.dump-schema"))
    me.commit("selftest exchange")
    me.sql("INSERT INTO selftest_exchange_notes VALUES ('HOSE', 'main board')")
    revision = parse_revision_file(mine).revision

    me.git("switch", "-q", "main")
    me.git("pull", "-q", "--ff-only")
    assert (me.versions / theirs.name).exists()

    status = me.invoke("db.status", "--check")
    output = assert_clean_failure(status, "holds another branch's revisions")
    assert f"revision {revision} came from {mine.name}" in output
    assert f"here {theirs.name} differs" in output

    started = ok(me.invoke("db.up"))
    assert "holds another branch's revisions" in started.stdout + started.stderr
    assert_clean_failure(me.invoke("db.dump-schema"), "writing db/schema.sql refused")
    assert me.git("status", "--porcelain").stdout == "", "nothing written"

    refused = me.invoke("db.upgrade")  # no terminal, no --yes: my row would go
    output = assert_clean_failure(refused, "refusing to undo")
    assert "selftest_exchange_notes (1 row)" in output
    assert "1" in me.sql("SELECT count(*) FROM selftest_exchange_notes")

    ok(me.invoke("db.upgrade", "--yes"))
    ok(me.invoke("db.status", "--check"))
    assert "t" in me.sql("SELECT to_regclass('selftest_trades') IS NOT NULL")
    assert "t" in me.sql("SELECT to_regclass('selftest_exchange_notes') IS NULL")
    assert me.git("status", "--porcelain").stdout == "", "main's schema.sql holds"

    me.git("switch", "-q", "feature")
    assert_clean_failure(
        me.invoke("db.status", "--check"), "holds another branch's revisions"
    )
    ok(me.invoke("db.upgrade", "--yes"))
    ok(me.invoke("db.status", "--check"))
    assert "t" in me.sql("SELECT to_regclass('selftest_exchange_notes') IS NOT NULL")
    assert "t" in me.sql("SELECT to_regclass('selftest_trades') IS NULL")
    assert me.git("status", "--porcelain").stdout == ""
