"""How Alembic's errors are worded for people."""

from __future__ import annotations

from alembic.util import CommandError

from devdb.schema.migrations import command_error


def test_unknown_revision_points_at_history() -> None:
    error = command_error(CommandError("Can't locate revision identified by 'nope'"))
    assert error.message == "unknown revision 'nope'"
    assert "db.history" in error.tip


def test_database_revision_no_file_knows_is_called_a_switched_branch() -> None:
    error = command_error(
        CommandError("Can't locate revision identified by 'abc123'"), ("abc123",)
    )
    assert "no migration file" in error.message
    assert "branch" in error.message


def test_env_py_errors_keep_their_tip() -> None:
    error = command_error(
        CommandError("this server has no timescaledb\nTIP: start one with invoke db.up")
    )
    assert error.message == "this server has no timescaledb"
    assert error.tip == "start one with invoke db.up"
