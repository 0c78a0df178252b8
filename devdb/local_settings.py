"""devdb.local.toml: this machine's choices, remembered for every later shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devdb.settings import Settings, read_toml_values

# What onboarding remembers for later shells: where this machine's dev database is.
REMEMBERED = ("port", "container_name", "image_source")


def remember_local_choices(settings: Settings) -> list[str]:
    """Write this shell's machine choices to devdb.local.toml; the names changed.

    Only the REMEMBERED settings that differ from the committed devdb.toml (or from
    what devdb.local.toml already says) are written, so a plain machine gets no
    file and a second run changes nothing. The file is rewritten whole: it belongs
    to this machine, and the toolkit owns its [devdb] table.
    """
    project = read_toml_values(settings.project_root / "devdb.toml")
    local_path = settings.project_root / "devdb.local.toml"
    local = read_toml_values(local_path)
    merged = dict(local)
    for name in REMEMBERED:
        value = getattr(settings, name)
        default = project.get(name, getattr(Settings, name))
        if value != default or name in local:
            merged[name] = value
    for name in [n for n in REMEMBERED if merged.get(n) == project.get(n)]:
        merged.pop(name, None)  # back to the project's default: nothing to remember
    if merged == local:
        return []
    write_local_settings(local_path, merged)
    return sorted(name for name in merged if merged.get(name) != local.get(name))


def remember_password(settings: Settings, password: str) -> Path:
    """Keep ``password`` in devdb.local.toml (mode 0600); return the file's path."""
    local_path = settings.project_root / "devdb.local.toml"
    merged = {**read_toml_values(local_path), "password": password}
    write_local_settings(local_path, merged)
    return local_path


def write_local_settings(path: Path, values: dict[str, Any]) -> None:
    """The file, rewritten whole, readable by its owner only: it may hold a
    password (a remote engine's dev database gets a random one)."""
    lines = ["# This machine's choices (written by the devdb toolkit).", "[devdb]"]
    for name, value in values.items():
        lines.append(f"{name} = {_toml_value(value)}")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("\n".join(lines) + "\n")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
