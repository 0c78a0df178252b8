"""The schema-change workflow: new revisions, redo, and keeping db/schema.sql in step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devdb import labels, migrations, revisions
from devdb.console import warn
from devdb.devcontainer import dev_database
from devdb.dump import dump_schema
from devdb.errors import DevDbError
from devdb.files import write_if_changed
from devdb.images import reference_image
from devdb.revisions import next_revision_id
from devdb.safety import guard_downgrade, refuse_non_local

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


def warn_if_not_comparable(container: Container, settings: Settings) -> None:
    """Say so when the dump will not be what `db.check` compares it with."""
    reference = reference_image()
    image_id = container.labels.get(labels.IMAGE_ID, "")
    if image_id != reference.id:
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


def refresh_schema_file(settings: Settings) -> bool:
    """Dump the dev database to ``settings.schema_file``; True when the file changed.

    Meant to run after `db.upgrade` / `db.downgrade` as well as from
    `db.dump-schema`. Raises DevDbError when there is no dev container to dump in.
    """
    container, target = dev_database(settings)
    warn_if_not_comparable(container, target)
    return write_if_changed(settings.schema_file, dump_schema(container, target))
