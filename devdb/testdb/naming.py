"""What the test databases are called, and what a template's name is a hash of.

Pure functions, no database: names are how one run finds, shares and cleans up
what another made (another pytest-xdist process, yesterday's run, a run that
crashed), so they are decided here and nowhere else.

A template's name is a digest of everything that decides what it holds: every
file under the revisions' ``versions/`` folder and ``env.py`` (a revision may read
a neighbouring .sql file), the server's PostgreSQL and TimescaleDB versions and
licence, the settings that shape the schema (the user who owns the objects), and
the recipe below. A change to any of them names a new template; nothing has to
notice that a revision changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

TEMPLATE_PREFIX = "devdb_tpl_"
CLONE_PREFIX = "devdb_t_"
BUILD_SUFFIX = "_build"
# Bump when the way a template is built or sealed changes: templates built the old
# way are then rebuilt rather than trusted.
RECIPE = "1"
# Advisory locks of the test databases are (LOCK_CLASS, key) pairs: the two-key form
# never meets the migration lock, which takes one bigint key.
LOCK_CLASS = 20260220
# The digest characters a name keeps: 64 bits tell templates apart and leave the
# name well under PostgreSQL's 63 bytes.
TEMPLATE_DIGEST_CHARACTERS = 16
CLONE_NAME = re.compile(r"^(?P<owner>devdb_t_[0-9a-f]{8}_[a-z0-9]{1,12})_(?P<n>\d+)$")
TEMPLATE_NAME = re.compile(r"^devdb_tpl_[0-9a-f]{16}$")
NOT_HASHED = ("__pycache__",)


@dataclass(frozen=True)
class ServerFacts:
    """What the server contributes to a template: its versions and licence."""

    postgres: str
    timescaledb: str  # the version CREATE EXTENSION installs; "" without one
    licence: str  # timescaledb.license; "" when the library is not loaded


def revision_files(script_location: Path) -> list[Path]:
    """The files whose bytes decide the schema at head, in a stable order."""
    versions = script_location / "versions"
    found = [
        path
        for path in versions.rglob("*")
        if path.is_file() and not any(part in NOT_HASHED for part in path.parts)
    ]
    env = script_location / "env.py"
    return sorted(found, key=lambda p: p.relative_to(script_location).as_posix()) + (
        [env] if env.is_file() else []
    )


def revisions_digest(script_location: Path) -> str:
    """sha256 over each revision file's path (relative) and bytes."""
    digest = hashlib.sha256()
    for path in revision_files(script_location):
        relative = path.relative_to(script_location).as_posix().encode("utf-8")
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def template_fingerprint(
    script_location: Path, facts: ServerFacts, shaping: Mapping[str, str]
) -> str:
    """The digest a template is named by (see the module docstring)."""
    described = {
        "recipe": RECIPE,
        "revisions": revisions_digest(script_location),
        "server": asdict(facts),
        "settings": dict(sorted(shaping.items())),
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_name(fingerprint: str) -> str:
    return TEMPLATE_PREFIX + fingerprint[:TEMPLATE_DIGEST_CHARACTERS]


def build_name(template: str) -> str:
    """Where a template is built before it is checked, sealed and renamed."""
    return template + BUILD_SUFFIX


def is_template_name(name: str) -> bool:
    return bool(TEMPLATE_NAME.fullmatch(name))


def is_build_name(name: str) -> bool:
    return name.endswith(BUILD_SUFFIX) and is_template_name(
        name.removesuffix(BUILD_SUFFIX)
    )


def lock_key(text: str) -> int:
    """A signed 32-bit advisory-lock key for ``text`` (PostgreSQL's int4)."""
    value = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")
    return value - 2**32 if value >= 2**31 else value


def owner_prefix(run_uid: str, worker: str) -> str:
    """The name every clone of one process starts with.

    ``run_uid`` is the test run's id (pytest-xdist gives all its processes one),
    ``worker`` the process within it ("gw0", or "main" without xdist).
    """
    run = hashlib.sha256(run_uid.encode("utf-8")).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9]", "", worker.lower())[:12] or "main"
    return f"{CLONE_PREFIX}{run}_{cleaned}"


def clone_name(owner: str, number: int) -> str:
    return f"{owner}_{number}"


def owner_of(name: str) -> str | None:
    """The owner prefix of a clone's name, or None for any other database."""
    match = CLONE_NAME.fullmatch(name)
    return match["owner"] if match else None


@dataclass(frozen=True)
class TemplateRecord:
    """What a template says about itself, in its database comment.

    ``jobs`` are the TimescaleDB jobs its revisions left scheduled: they are off in
    the template (so no clone starts work a test did not ask for) and turned back
    on in a clone that asks, and in a dev database made from it.
    """

    fingerprint: str
    heads: tuple[str, ...]
    jobs: tuple[int, ...] = ()
    built_at: float = field(default_factory=time.time)
    build_seconds: float = 0.0
    kind: str = "template"

    def as_comment(self) -> str:
        return json.dumps({"devdb": self.kind, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_comment(cls, text: str | None) -> TemplateRecord | None:
        try:
            data = json.loads(text or "")
            if not isinstance(data, dict) or data.pop("devdb", None) != "template":
                return None
            data.pop("kind", None)
            return cls(
                fingerprint=str(data["fingerprint"]),
                heads=tuple(str(h) for h in data["heads"]),
                jobs=tuple(int(j) for j in data.get("jobs", ())),
                built_at=float(data.get("built_at", 0.0)),
                build_seconds=float(data.get("build_seconds", 0.0)),
            )
        except (ValueError, TypeError, KeyError):
            return None


KEPT_MARK = "devdb kept"


def kept_comment(test: str) -> str:
    """The comment a failed test's clone keeps, naming the test."""
    return f"{KEPT_MARK}: {test}"


def is_kept(comment: str | None) -> bool:
    return bool(comment) and str(comment).startswith(KEPT_MARK)
