"""Writing the project's generated files safely, and naming them for people."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from devdb.settings import PROJECT_ROOT


def default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_if_changed(path: Path, content: str) -> bool:
    """Write ``content`` unless the file already holds it; True when it changed.

    Written to a temporary file and renamed, so an interrupted run never leaves a
    half-written schema file to be committed.
    """
    data = content.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
        # mkstemp makes the file private (0600); keep the mode a plain write gives.
        os.chmod(
            temporary,
            path.stat().st_mode & 0o777 if path.exists() else default_file_mode(),
        )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def shown(path: Path) -> str:
    """A path as people type it: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)
