"""Failures nobody raised a DevDbError for, put into words where they are rendered.

The library raises DevDbError for what it foresees. Some failures surface from deep
inside Alembic, SQLAlchemy, Docker or the revision files themselves, on any task
that happens to load them (db.up, db.status, db.history, db.upgrade --sql, ...).
Rather than wrap each task, the one place that renders errors (tasks/_support.py)
asks ``explain`` what an unforeseen exception means. Whatever it cannot explain
still gets a traceback: that is a bug to fix, not an input to reject.
"""

from __future__ import annotations

import ast
import traceback
from pathlib import Path

from devdb.errors import DevDbError, first_line
from devdb.files import shown

# Packages whose exceptions (wherever the class is defined: Alembic raises bare
# AssertionError and KeyError) are failures of the environment or of the input
# handed to them, not of this toolkit.
THIRD_PARTY = ("alembic", "sqlalchemy", "psycopg2", "docker", "urllib3", "requests")


def explain(error: BaseException, versions_dir: Path | None) -> DevDbError | None:
    """ERROR + TIP for an unforeseen exception, or None when it is a real bug."""
    revision_file = failing_revision_file(error, versions_dir)
    if revision_file is not None:
        return DevDbError(
            f"the revision file {shown(revision_file)} cannot be loaded or run: "
            f"{describe(error)}",
            "fix that file (or move it away), then run again; `invoke db.history` "
            "lists the revisions once every file loads",
        )
    if isinstance(error, KeyError) and raised_in(error, "alembic"):
        # What Alembic's revision map raises for a down_revision no file defines.
        missing = str(error.args[0]) if error.args else "?"
        where = files_building_on(missing, versions_dir)
        return DevDbError(
            f"{where or 'a revision file'} builds on revision '{missing}', which no "
            "file defines",
            "fix that revision's down_revision, or restore the missing file",
        )
    if isinstance(error, AssertionError) and raised_in(error, "alembic"):
        # Alembic asserts where a relative target ('001+5', 'base+9') walks off
        # the revisions.
        return DevDbError(
            "Alembic cannot resolve the revision target (--revision)",
            "name a revision from `invoke db.history`, 'head', 'base', or a relative "
            "target that stays within the revisions (+1, -1, 001+1)",
        )
    if isinstance(error, OSError) and error.filename:
        return DevDbError(
            f"cannot use {error.filename}: {error.strerror or describe(error)}",
            "check that the file or directory exists and that you may read and "
            "write it",
        )
    if raised_in(error, *THIRD_PARTY) or type(error).__module__.startswith(THIRD_PARTY):
        return DevDbError(
            describe(error),
            "run `invoke db.status` to see the state, then retry; if it persists, "
            "report it with the command you ran",
        )
    return None


def describe(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError on line {error.lineno}: {error.msg}"
    return f"{type(error).__name__}: {first_line(str(error))}"


def failing_revision_file(
    error: BaseException, versions_dir: Path | None
) -> Path | None:
    """The revision file the error came from (a syntax error in it, or a frame)."""
    if versions_dir is None:
        return None
    versions = versions_dir.resolve()
    candidates: list[str] = []
    if isinstance(error, SyntaxError) and error.filename:
        candidates.append(error.filename)
    candidates.extend(
        frame.filename for frame in traceback.extract_tb(error.__traceback__)
    )
    for name in candidates:
        path = Path(name)
        if path.suffix == ".py" and path.resolve().parent == versions:
            return path
    return None


def raised_in(error: BaseException, *packages: str) -> bool:
    """Whether the innermost frame of the traceback is in one of ``packages``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return False
    parts = Path(frames[-1].filename).parts
    return any(package in parts for package in packages)


def files_building_on(revision: str, versions_dir: Path | None) -> str:
    """The revision files whose down_revision names ``revision``, for the message."""
    if versions_dir is None:
        return ""
    found = []
    for path in sorted(versions_dir.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError, OSError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if (
                isinstance(target, ast.Name)
                and target.id == "down_revision"
                and revision in ast.unparse(value)
            ):
                found.append(shown(path))
    return ", ".join(found)
