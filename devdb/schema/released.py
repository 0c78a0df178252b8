"""What the release branch holds: its revision files, read from git, not the tree.

A revision is released once its file is on the release branch (setting
``release_branch``, ``main``): others may have applied it, so it never changes. A
teammate's revision reaches ``origin/main`` before it reaches my local ``main``, so
the branch's upstream counts too: a revision on either is released.

``db.check`` uses this to see that my unreleased revisions sit on top of the
release branch's head, and ``db.rebase`` to tell mine from everyone else's.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from devdb.errors import DevDbError, Problem
from devdb.schema.collisions import (
    REBASE_TIP,
    RevisionFile,
    collision_problems,
    linear_chain,
    parse_revision_file,
)


def git(project_root: Path, *args: str, check: bool = True) -> str:
    """git's stdout, or a DevDbError when git itself fails (and ``check``)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=project_root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise DevDbError(
            f"git could not run: {error}",
            "install git, and run the task inside the project's checkout",
        ) from None
    if check and done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise DevDbError(
            f"`git {' '.join(args[:3])}` failed: {reason[-1] if reason else done.returncode}",
            "run it by hand to see why; the task changed nothing",
        )
    return done.stdout


def ref_exists(project_root: Path, ref: str) -> bool:
    return bool(
        git(
            project_root,
            "rev-parse",
            "--verify",
            "--quiet",
            f"{ref}^{{commit}}",
            check=False,
        )
    )


def release_refs(project_root: Path, branch: str) -> list[str]:
    """The branch and its upstream (``origin/main``), those that exist."""
    refs = [branch] if ref_exists(project_root, branch) else []
    upstream = git(
        project_root,
        "rev-parse",
        "--abbrev-ref",
        "--symbolic-full-name",
        f"{branch}@{{upstream}}",
        check=False,
    ).strip()
    if not upstream and ref_exists(project_root, f"origin/{branch}"):
        upstream = f"origin/{branch}"  # a clone whose main tracks nothing yet
    if upstream and upstream not in refs and ref_exists(project_root, upstream):
        refs.append(upstream)
    return refs


@dataclass(frozen=True)
class ReleasedFile:
    ref: str
    path: PurePosixPath  # relative to the project root, as git names it
    source: str
    revision: RevisionFile


def files_on_ref(
    project_root: Path, ref: str, versions_dir: Path
) -> list[ReleasedFile]:
    """The revision files ``ref`` holds in ``versions_dir``, read from git."""
    relative = versions_dir.resolve().relative_to(project_root.resolve()).as_posix()
    listed = git(
        project_root, "ls-tree", "--name-only", f"{ref}:{relative}", check=False
    )
    found = []
    for name in sorted(listed.split()):
        if not name.endswith(".py") or name.startswith("__"):
            continue
        path = PurePosixPath(relative) / name
        source = git(project_root, "show", f"{ref}:{path}")
        found.append(
            ReleasedFile(
                ref, path, source, parse_revision_file(Path(f"{ref}:{path}"), source)
            )
        )
    return found


@dataclass(frozen=True)
class ReleaseState:
    """The release branch's revisions (on any of its refs) and its head."""

    refs: tuple[str, ...]
    files: tuple[ReleasedFile, ...]
    head: str | None  # the newest released revision; None when nothing is released
    head_ref: str  # the ref whose history reaches furthest

    def released_ids(self) -> set[str]:
        return {f.revision.revision for f in self.files}

    def released_paths(self) -> set[PurePosixPath]:
        return {f.path for f in self.files}

    def describe(self) -> str:
        return " / ".join(self.refs) or "no release branch"


def release_state(project_root: Path, branch: str, versions_dir: Path) -> ReleaseState:
    """What the release branch (and its upstream) hold; the furthest head wins.

    Revisions outside the project (a copy a check or a test made) are on no branch.
    """
    if not versions_dir.resolve().is_relative_to(project_root.resolve()):
        return ReleaseState((), (), None, "")
    refs = release_refs(project_root, branch)
    chosen: tuple[str, list[ReleasedFile], list[RevisionFile]] | None = None
    everything: dict[PurePosixPath, ReleasedFile] = {}
    for ref in refs:
        on_ref = files_on_ref(project_root, ref, versions_dir)
        for released in on_ref:
            everything.setdefault(released.path, released)
        revisions = [f.revision for f in on_ref]
        if collision_problems(revisions):
            raise DevDbError(
                f"the release branch {ref} itself holds colliding revisions",
                "fix it there first (a released revision is never rewritten)",
            )
        chain = linear_chain(revisions)
        if chosen is None or len(chain) > len(chosen[2]):
            chosen = (ref, on_ref, chain)
    if chosen is None:
        return ReleaseState((), (), None, "")
    ref, _, chain = chosen
    return ReleaseState(
        tuple(refs),
        tuple(everything.values()),
        chain[-1].revision if chain else None,
        ref,
    )


def unreleased_files(
    files: list[RevisionFile], state: ReleaseState, project_root: Path
) -> list[RevisionFile]:
    """The tree's revision files whose path is on no release ref.

    A released file that changed is still released (the checksum list says it
    changed); only a file the release branch never had is mine to renumber.
    """
    released = state.released_paths()
    root = project_root.resolve()
    return [
        revision_file
        for revision_file in files
        if PurePosixPath(revision_file.path.resolve().relative_to(root).as_posix())
        not in released
    ]


def release_problems(
    files: list[RevisionFile], project_root: Path, against: str, versions_dir: Path
) -> list[Problem]:
    """Unreleased revisions that do not sit on top of ``against``'s head."""
    state = release_state(project_root, against, versions_dir)
    if state.head is None:
        return []
    mine = unreleased_files(files, state, project_root)
    if not mine:
        return []
    ids = {f.revision for f in mine}
    lowest = [f for f in mine if not set(f.down_revisions) & ids]
    problems = []
    for revision_file in lowest:
        if state.head not in revision_file.down_revisions:
            builds_on = ", ".join(revision_file.down_revisions) or "base"
            head_file = next(
                (f for f in state.files if f.revision.revision == state.head), None
            )
            where = f" ({head_file.path.name} on {head_file.ref})" if head_file else ""
            problems.append(
                Problem(
                    f"unreleased revision {revision_file.revision} "
                    f"({revision_file.name}) builds on {builds_on}, not on "
                    f"{state.head_ref}'s head {state.head}{where}",
                    f"merge {state.head_ref} into your branch (`git merge "
                    f"{state.head_ref}`), then {REBASE_TIP}",
                )
            )
    return problems
