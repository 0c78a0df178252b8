"""The run's one line about its test databases, from every process's statistics.

Pure: pytest-xdist hands the controller each process's ``Stats`` as a dict, and
the plugin prints what this module makes of them.
"""

from __future__ import annotations

import statistics
from typing import Any


def summary_line(processes: list[dict[str, Any]]) -> str:
    """'devdb: template ... reused on ...; N clones (p50 ..), ...; T s in databases'.

    Empty when no process made a test database.
    """
    stats = [p for p in processes if "template" in p]
    warnings = [p["warning"] for p in processes if "warning" in p]
    if not stats:
        return "; ".join(f"devdb: {w}" for w in warnings)
    clones = [s for p in stats for s in p["clone_seconds"]]
    built = [p for p in stats if p["built"]]
    template = stats[0]["template"]
    how = f"built in {built[0]['template_seconds']:.1f} s" if built else "reused"
    kept = [name for p in stats for name in p["kept"]]
    parts = [
        f"devdb: template {template} {how} on {stats[0]['server']}",
        f"{len(clones)} clone{'' if len(clones) == 1 else 's'}"
        + (
            f" (p50 {median(clones) * 1000:.0f} ms, p95 "
            f"{percentile(clones, 0.95) * 1000:.0f} ms)"
            if clones
            else ""
        ),
        f"{sum(p['failures'] for p in stats)} clone failures",
        f"{len(kept)} kept" + (f" ({', '.join(kept[:3])}" if kept else ""),
    ]
    if kept:
        parts[-1] += ", ...)" if len(kept) > 3 else ")"
    retries = sum(p["retries"] for p in stats)
    if retries:
        parts.append(f"{retries} clone retries (template busy)")
    reaped = sum(p["reaped"] for p in stats)
    if reaped:
        parts.append(f"{reaped} left over by earlier runs dropped")
    removed = sorted({name for p in stats for name in p["removed_templates"]})
    if removed:
        parts.append(
            f"old template{'s' if len(removed) > 1 else ''} removed: "
            + ", ".join(removed)
        )
    seconds = sum(
        p["template_seconds"] + sum(p["clone_seconds"]) + sum(p["drop_seconds"])
        for p in stats
    )
    parts.append(f"{seconds:.1f} s in databases")
    return "; ".join(parts) + "".join(f"\ndevdb: {w}" for w in warnings)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
