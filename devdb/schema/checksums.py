"""The checksum list, ``db/alembic.sum``: released revisions must not change.

In the spirit of Flyway's validate and ``atlas.sum``: one line per revision, its
sha256 and its file. Rules:
- ``invoke db.dump-schema`` adds revisions missing from the list and never rewrites a
  line; ``--rehash REV`` re-records one on purpose (for a revision not yet merged, so
  the changed line shows up in review);
- ``invoke db.check`` fails when a listed revision's file changed or disappeared, or
  when a revision is not listed yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from devdb.errors import DevDbError, Problem
from devdb.files import shown, write_if_changed
from devdb.schema.revisions import read_revisions

SUM_HEADER = (
    "# sha256 of each Alembic revision file (line endings normalised), one revision\n"
    "# a line: `invoke db.check` fails when a listed file changes or disappears, or a\n"
    "# revision is not listed. `invoke db.dump-schema` adds new revisions and never\n"
    "# rewrites a line; `--rehash REV` re-records a revision not merged yet.\n"
)
SUM_LINE = re.compile(
    r"^(?P<revision>\S+) sha256:(?P<digest>[0-9a-f]{64}) (?P<path>.+)$"
)


class SumEntry(NamedTuple):
    revision: str
    digest: str
    path: str  # relative to the script location, for people; the revision is the key

    def line(self) -> str:
        return f"{self.revision} sha256:{self.digest} {self.path}"


def file_digest(path: Path) -> str:
    # CRLF from a Windows checkout (core.autocrlf) is not a change to the revision.
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def current_entries(script_location: Path) -> list[SumEntry]:
    root = script_location.resolve()
    return [
        SumEntry(
            rev.revision,
            file_digest(Path(rev.path)),
            Path(rev.path).resolve().relative_to(root).as_posix(),
        )
        for rev in read_revisions(script_location)[0]
    ]


def parse_sum(text: str, *, name: str = "the checksum list") -> list[SumEntry]:
    entries: list[SumEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = SUM_LINE.match(line)
        if match is None:
            raise DevDbError(
                f"{name}, line {number}, is not `REVISION sha256:HEX PATH`: {line!r}",
                "restore the file from git; `invoke db.dump-schema` adds missing lines",
            )
        entries.append(SumEntry(**match.groupdict()))
    return entries


def read_sum(sum_file: Path) -> list[SumEntry]:
    if not sum_file.is_file():
        return []
    return parse_sum(sum_file.read_text(encoding="utf-8"), name=sum_file.name)


def format_sum(entries: Iterable[SumEntry]) -> str:
    return SUM_HEADER + "".join(f"{entry.line()}\n" for entry in entries)


def merge_entries(
    recorded: Sequence[SumEntry],
    current: Sequence[SumEntry],
    rehash: Iterable[str] = (),
) -> tuple[list[SumEntry], list[str]]:
    """Recorded entries kept as they are, new revisions appended; and what was added.

    ``rehash`` names revisions whose recorded line is replaced on purpose.
    """
    rehash = set(rehash)
    known = {entry.revision for entry in current}
    unknown = sorted(rehash - known)
    if unknown:
        raise DevDbError(
            f"cannot rehash {', '.join(unknown)}: no revision file defines it",
            "`invoke db.history` lists the revisions",
        )
    by_revision = {entry.revision: entry for entry in current}
    merged = [
        by_revision[entry.revision] if entry.revision in rehash else entry
        for entry in recorded
    ]
    listed = {entry.revision for entry in recorded}
    added = [entry for entry in current if entry.revision not in listed]
    changed = [entry.revision for entry in added] + sorted(rehash & listed)
    return merged + added, changed


def record_revisions(
    script_location: Path, sum_file: Path, *, rehash: Iterable[str] = ()
) -> list[str]:
    """Add unlisted revisions to ``sum_file`` (and re-record ``rehash``); the changed."""
    merged, changed = merge_entries(
        read_sum(sum_file), current_entries(script_location), rehash
    )
    if changed or not sum_file.is_file():
        write_if_changed(sum_file, format_sum(merged))
    return changed


def checksum_problems(
    recorded: Sequence[SumEntry],
    current: Sequence[SumEntry],
    *,
    sum_file: Path,
    script_location: Path,
    released: Callable[[Path], bool] = lambda _path: True,
) -> list[Problem]:
    """Released revisions that changed or vanished, and revisions not yet listed.

    ``released(path)`` tells a released revision file from one still being written
    (see devdb.schema.revisions.is_released): the way forward differs.
    """
    now = {entry.revision: entry for entry in current}
    listed_in = shown(sum_file)
    problems: list[Problem] = []
    for entry in recorded:
        found = now.get(entry.revision)
        if found is None:
            gone = script_location / entry.path
            problems.append(
                Problem(
                    f"revision {entry.revision} is listed in {listed_in} "
                    f"({entry.path}) but no revision file defines it any more",
                    "restore the released revision file; never delete a released "
                    "revision"
                    if released(gone)
                    else f"it was never released: drop its line from {listed_in} "
                    "(`invoke db.backout` does that when it removes a revision)",
                )
            )
        elif found.digest != entry.digest and not released(
            script_location / found.path
        ):
            path = shown(script_location / found.path)
            problems.append(
                Problem(
                    f"revision {entry.revision} changed ({path}) since {listed_in} "
                    "recorded it; it is not released yet, so that is allowed",
                    f"re-record it: `invoke db.dump-schema --rehash {entry.revision}`",
                )
            )
        elif found.digest != entry.digest:
            path = shown(script_location / found.path)
            problems.append(
                Problem(
                    f"released revision {entry.revision} changed ({path}): checksum "
                    f"mismatch, {listed_in} records sha256:{entry.digest[:12]}…, "
                    f"the file has sha256:{found.digest[:12]}…",
                    f"revert it (`git checkout -- {path}`) and make the change in a "
                    "new revision (only a revision never merged may be edited: "
                    f"then `invoke db.dump-schema --rehash {entry.revision}`)",
                )
            )
    listed = {entry.revision for entry in recorded}
    for entry in current:
        if entry.revision not in listed:
            path = shown(script_location / entry.path)
            problems.append(
                Problem(
                    f"revision {entry.revision} ({path}) is not listed in {listed_in}",
                    f"`invoke db.dump-schema` records it; commit {listed_in}",
                )
            )
    return problems


def drop_sum_entry(sum_file: Path, revision: str) -> bool:
    """Remove one revision's line (a revision backed out before release)."""
    entries = read_sum(sum_file)
    kept = [entry for entry in entries if entry.revision != revision]
    if len(kept) == len(entries):
        return False
    write_if_changed(sum_file, format_sum(kept))
    return True
