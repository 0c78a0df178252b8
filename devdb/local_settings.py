"""devdb.local.toml: this machine's choices, remembered for every later shell."""

from __future__ import annotations

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
    lines = ["# This machine's choices (written by scripts/onboard.sh).", "[devdb]"]
    for name, value in merged.items():
        lines.append(f"{name} = {_toml_value(value)}")
    local_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(name for name in merged if merged.get(name) != local.get(name))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
