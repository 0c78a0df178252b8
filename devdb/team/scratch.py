"""A scratch copy of the project's Alembic set-up holding chosen revision files.

Alembic reads revisions from a directory. To run revisions that are not this
branch's files (another branch's, as the dev database's journal recorded them; or
the release branch's alone), the toolkit writes them into a temporary project
with the same env.py, template and alembic.ini, and points settings at it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devdb.settings import Settings


@contextmanager
def scratch_project(settings: Settings, files: Mapping[str, str]) -> Iterator[Settings]:
    """Settings whose script location holds exactly ``files`` (name -> source)."""
    with tempfile.TemporaryDirectory(prefix="devdb-scratch-") as directory:
        root = Path(directory)
        backend = root / "backend"
        (backend / "alembic" / "versions").mkdir(parents=True)
        shutil.copy(settings.alembic_ini, backend / "alembic.ini")
        for name in ("env.py", "script.py.mako"):
            shutil.copy(settings.script_location / name, backend / "alembic" / name)
        for name, source in files.items():
            (backend / "alembic" / "versions" / name).write_text(
                source, encoding="utf-8"
            )
        yield replace(settings, project_root=root)
