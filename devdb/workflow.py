"""The schema-change workflow: new revisions, redo, and keeping db/schema.sql in step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels
from devdb.console import warn
from devdb.containers.dev import dev_database
from devdb.errors import DevDbError
from devdb.files import shown, write_if_changed
from devdb.images.table import reference_image
from devdb.safety import (
    THIS_MACHINE,
    confirm_destructive,
    guard_downgrade,
    refuse_non_local,
)
from devdb.schema import migrations, revisions
from devdb.schema.checksums import drop_sum_entry
from devdb.schema.contract import schema_at_head
from devdb.schema.dump import dump_diff, dump_schema
from devdb.schema.init_sql import init_sql_file
from devdb.schema.revisions import next_revision_id
from devdb.schema.roundtrip import schema_ignoring_extensions
from devdb.team.switch import refuse_foreign

if TYPE_CHECKING:
    from docker.models.containers import Container

    from devdb.settings import Settings


def redo(
    settings: Settings,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> str:
    """Down one revision and up again: re-run the latest migration after editing it.

    Undoing the revision can drop rows: the same guard as `db.downgrade --steps 1`.
    """
    refuse_non_local(settings, "redo the latest revision", force=force)
    at = migrations.current(settings)
    if not at:
        raise DevDbError(
            "the database is at base; there is no revision to redo",
            "run `invoke db.upgrade` first",
        )
    if len(at) > 1:
        raise DevDbError(
            f"the database has several heads ({', '.join(at)}); redo needs one",
            "downgrade and upgrade by revision: `invoke db.downgrade --revision R`",
        )
    guard_downgrade(
        settings, "-1", yes=yes, force=force, action=f"redo {at[0]}", ask=ask
    )
    migrations.downgrade(settings, "-1")
    migrations.upgrade(settings, at[0])
    return at[0]


def new_revision(settings: Settings, message: str) -> Path:
    """Write a new raw-SQL revision after head from script.py.mako; return its path."""
    # lazy: Alembic costs `invoke --list` and a warm `db.up` half a second
    from alembic import command
    from alembic.util import CommandError

    message = revisions.docstring_line(message)
    if not message:
        raise DevDbError(
            "a revision needs a message",
            'say what it changes: `invoke db.revision -m "add trades table"`',
        )
    config = migrations.alembic_config(settings)
    existing = [info.revision for info in revisions.history(settings.script_location)]
    try:
        script = command.revision(
            config, message=message, rev_id=next_revision_id(existing)
        )
    except CommandError as error:
        raise migrations.command_error(error) from None
    if script is None or isinstance(script, list):
        raise DevDbError("Alembic wrote no revision file", "run `invoke db.history`")
    return Path(script.path)


def warn_if_not_comparable(container: Container, settings: Settings) -> bool:
    """Say so when the dump will not be what `db.check` compares it with.

    True when the dev database runs the reference image (its dump is comparable).
    """
    reference = reference_image()
    image_id = container.labels.get(labels.IMAGE_ID, "")
    comparable = image_id == reference.id
    if not comparable:
        warn(
            f"the dev database runs image '{image_id or 'unknown'}'; `invoke db.check` "
            f"compares db/schema.sql with a dump from '{reference.id}', which may differ"
        )
    at = migrations.current(settings)
    heads = revisions.heads(settings.script_location)
    if sorted(at) != sorted(heads):
        warn(
            f"db/schema.sql now shows revision {' '.join(at) or 'base'}, not head "
            f"({' '.join(heads)}); `invoke db.check` expects head, so commit it "
            "after `invoke db.upgrade`"
        )
    return comparable


def refresh_schema_file(settings: Settings, *, after_downgrade: bool = False) -> bool:
    """Dump the dev database to ``settings.schema_file``; True when the file changed.

    Meant to run after `db.upgrade` / `db.downgrade` as well as from
    `db.dump-schema`. Raises DevDbError when there is no dev container to dump in.

    After a downgrade the dev database may hold what a downgrade forgot to drop, and
    that is not the contract: the dump is compared with a clean throwaway database
    at the same revision (same image only, or every difference would be noise);
    leftovers are shown and the clean schema is written instead.
    """
    container, target = dev_database(settings)
    # A dev database holding another branch's revisions would write that branch's
    # schema into this branch's db/schema.sql.
    refuse_foreign(target, f"writing {shown(settings.schema_file)}")
    comparable = warn_if_not_comparable(container, target)
    dumped = dump_schema(container, target)
    if after_downgrade and comparable:
        dumped = clean_schema_or_warn(settings, dumped, migrations.current(target))
    return write_if_changed(settings.schema_file, dumped)


def clean_schema_or_warn(settings: Settings, dumped: str, at: tuple[str, ...]) -> str:
    """The schema of a clean database at ``at``, warning when ``dumped`` differs."""
    revision = at[0] if len(at) == 1 else "base"
    if len(at) > 1:
        return dumped  # several heads: no single clean revision to compare with
    clean, _ = schema_at_head(
        reference_image(), settings, settings.script_location, revision=revision
    )
    # An extension a downgrade keeps (revision 001 keeps timescaledb) is no leftover.
    if schema_ignoring_extensions(clean) == schema_ignoring_extensions(dumped):
        return dumped
    warn(
        f"the dev database at {revision} is not what a clean database at {revision} "
        "looks like: a downgrade left objects behind (or the database was changed "
        "by hand). db/schema.sql is written from the clean database; the "
        "difference (- clean, + dev database):\n"
        + dump_diff(clean, dumped, f"clean at {revision}", "dev database", max_lines=40)
        + "\nFix the downgrade that left them; `invoke db.reset` re-creates the dev "
        "database (and deletes its data)."
    )
    return clean


def backout(
    settings: Settings,
    revision: str = "",
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None = None,
) -> list[str]:
    """Take an unreleased head revision out again, as if it was never written.

    Downgrades the dev database past it (when it is there), deletes its file,
    drops its line from the checksum list and rewrites db/schema.sql as the
    migrations now produce it (from a throwaway, never from a dev database its
    downgrade may have left dirty). A released revision is refused: others may
    have run it, so only a new revision may undo it.
    """
    scripts, heads = revisions.read_revisions(settings.script_location)
    target = revision or (heads[0] if len(heads) == 1 else "")
    if not target:
        raise DevDbError(
            f"there are {len(heads)} heads ({', '.join(heads)}); say which to back out",
            "`invoke db.backout --revision R`",
        )
    script = next((s for s in scripts if s.revision == target), None)
    if script is None or not script.path:
        raise DevDbError(
            f"no revision file defines '{target}'",
            "`invoke db.history` lists the revisions",
        )
    if target not in heads:
        raise DevDbError(
            f"revision {target} is not a head: later revisions build on it",
            "back out the newest revision first, one at a time",
        )
    path = Path(script.path)
    release = release_branch_ref(settings)
    if revisions.is_released(path, settings.project_root, release):
        raise DevDbError(
            f"revision {target} is released (its file is on '{release}'); "
            "others may have applied it",
            "undo its change in a new revision: `invoke db.revision -m ...`",
        )
    # The file is asked about whatever the dev database's state: it may be the
    # only copy of someone's work.
    confirm_destructive(
        settings,
        f"delete {shown(path)} (revision {target}: not on '{release}')",
        yes=yes,
        force=force,
        ask=ask,
        where="this checkout",
        verdict=THIS_MACHINE,
    )
    below = script.down_revision if isinstance(script.down_revision, str) else None
    done = [f"Compared with '{release}': {target} is not released"]
    done += downgrade_dev_database_past(
        settings, target, below, yes=yes, force=force, ask=ask
    )
    path.unlink()
    done.append(f"Deleted {shown(path)}")
    generated = init_sql_file(settings, target)
    if generated is not None and generated.exists():
        generated.unlink()
        done.append(f"Deleted {shown(generated)}")
    if drop_sum_entry(settings.migrations_sum_file, target):
        done.append(f"Dropped {target} from {shown(settings.migrations_sum_file)}")
    produced, _ = schema_at_head(
        reference_image(), settings, settings.script_location, round_trip_revisions=0
    )
    if done[1].startswith("Downgraded"):
        # Say so when the downgrade left objects behind; the file gets the clean one.
        container, aimed = dev_database(settings)
        if warn_if_not_comparable(container, aimed):
            clean_schema_or_warn(
                settings, dump_schema(container, aimed), migrations.current(aimed)
            )
    if write_if_changed(settings.schema_file, produced):
        done.append(
            f"Rewrote {shown(settings.schema_file)} as the migrations now produce it"
        )
    return done


def downgrade_dev_database_past(
    settings: Settings,
    target: str,
    below: str | None,
    *,
    yes: bool,
    force: bool,
    ask: Callable[[str], bool] | None,
) -> list[str]:
    """Downgrade the dev database below ``target`` when it is at ``target``."""
    try:
        _, aimed = dev_database(settings)
    except DevDbError as error:
        return [f"Dev database left alone ({error.message})"]
    # Before reading its revision: another machine's is not connected to at all.
    refuse_non_local(aimed, f"back out {target}", force=force)
    try:
        at = migrations.current(aimed)
    except DevDbError as error:
        return [f"Dev database left alone ({error.message})"]
    if target not in at:
        return [
            f"Dev database is at {' '.join(at) or 'base'}, not {target}: left alone"
        ]
    guard_downgrade(
        aimed,
        below or "base",
        yes=yes,
        force=force,
        action=f"back out {target}",
        ask=ask,
    )
    migrations.downgrade(aimed, below or "base")
    return [f"Downgraded the dev database from {target} to {below or 'base'}"]


def release_branch_ref(settings: Settings) -> str:
    """The ref "released" is decided against: the remote's release branch, fetched
    now, when the checkout has a remote (a local branch may be days behind);
    else the local one. A fetch that fails is said, and the last fetched copy used.
    """
    import subprocess

    branch = settings.release_branch

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args],
            cwd=settings.project_root,
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        remotes = git("remote").stdout.split()
        if not remotes:
            return branch
        configured = git("config", f"branch.{branch}.remote").stdout.strip()
        remote = configured if configured in remotes else remotes[0]
        fetched = git("fetch", "--quiet", remote, branch)
    except (OSError, subprocess.SubprocessError):
        return branch
    if fetched.returncode != 0:
        reason = (fetched.stderr.strip().splitlines() or ["no reason given"])[-1]
        warn(
            f"`git fetch {remote} {branch}` failed ({reason}); comparing with the "
            f"last fetched '{remote}/{branch}'"
        )
    return f"{remote}/{branch}"
