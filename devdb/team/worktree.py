"""The checkout's git state, as `db.rebase` needs it: a merge or rebase under way,
the files in conflict, which of them the toolkit generates, and staging.

Generated files (``db/alembic.sum``, ``db/schema.sql``, the generated init SQL in
``db/migrations/``) are regenerated, never merged by hand: a conflict there is the
toolkit's to resolve. A conflict anywhere else (a revision's body, the code) is a
person's.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from devdb.errors import DevDbError
from devdb.schema.collisions import RevisionFile
from devdb.schema.init_sql import GENERATED_MARK
from devdb.schema.released import files_on_ref, git
from devdb.team.renumber import body_of


def in_progress(project_root: Path) -> str:
    """'merge', 'rebase', 'cherry-pick' or '' for the operation git stands in."""
    git_dir = Path(git(project_root, "rev-parse", "--absolute-git-dir").strip())
    if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
        return "rebase"
    if (git_dir / "MERGE_HEAD").exists():
        return "merge"
    if (git_dir / "CHERRY_PICK_HEAD").exists():
        return "cherry-pick"
    return ""


def conflicted_paths(project_root: Path) -> list[PurePosixPath]:
    listed = git(project_root, "diff", "--name-only", "--diff-filter=U", "-z")
    return [PurePosixPath(name) for name in listed.split("\0") if name]


def is_generated(project_root: Path, path: PurePosixPath) -> bool:
    """Whether the toolkit writes this file (so a conflict in it is regenerated)."""
    if path in (PurePosixPath("db/alembic.sum"), PurePosixPath("db/schema.sql")):
        return True
    if path.parent != PurePosixPath("db/migrations") or path.suffix != ".sql":
        return False
    # Either side of the conflict says whether the file is a generated one.
    for stage in ("2", "3"):
        side = git(project_root, "show", f":{stage}:{path}", check=False)
        if side.startswith(GENERATED_MARK):
            return True
    return False


def refuse_hand_conflicts(project_root: Path) -> list[PurePosixPath]:
    """The conflicted generated files; a DevDbError when anything else conflicts."""
    conflicted = conflicted_paths(project_root)
    by_hand = [p for p in conflicted if not is_generated(project_root, p)]
    if by_hand:
        raise DevDbError(
            "these files conflict and are not generated: "
            + ", ".join(str(p) for p in by_hand)
            + " (a revision body or code: db.rebase never guesses)",
            "resolve them by hand and `git add` them, then run `invoke db.rebase` "
            "again: it regenerates db/alembic.sum, db/schema.sql and the init SQL",
        )
    return conflicted


def stage(project_root: Path, paths: list[Path]) -> None:
    """`git add` exactly these paths (a deleted one is staged as deleted)."""
    if not paths:
        return
    root = project_root.resolve()
    relative = sorted({str(path.resolve().relative_to(root)) for path in paths})
    git(project_root, "add", "-A", "--", *relative)


def stale_parents(
    root: Path, mine: list[RevisionFile], files: list[RevisionFile]
) -> dict[Path, str]:
    """Real parents of mine whose down_revision names a renumbered id.

    In the middle of ``git rebase``, the commit being applied (REBASE_HEAD) was
    written when my earlier revision still had its old id. Its tree says which
    file that id was; the same body here, under its new id, is the real parent.
    """
    if in_progress(root) != "rebase":
        return {}
    if not git(root, "rev-parse", "-q", "--verify", "REBASE_HEAD", check=False):
        return {}
    versions = files[0].path.parent if files else root
    then = {
        f.revision.revision: body_of(f.source)
        for f in files_on_ref(root, "REBASE_HEAD", versions)
    }
    here_by_body = {body_of(f.path.read_text(encoding="utf-8")): f for f in files}
    here_by_id: dict[str, list[RevisionFile]] = {}
    for revision_file in files:
        here_by_id.setdefault(revision_file.revision, []).append(revision_file)
    resolved: dict[Path, str] = {}
    for revision_file in mine:
        if len(revision_file.down_revisions) != 1:
            continue
        parent = revision_file.down_revisions[0]
        body = then.get(parent)
        same_id = here_by_id.get(parent, [])
        if body is None or any(
            body_of(f.path.read_text(encoding="utf-8")) == body for f in same_id
        ):
            continue  # the parent still has that id here
        moved = here_by_body.get(body)
        if moved is not None and moved is not revision_file:
            resolved[revision_file.path] = moved.revision
    return resolved
