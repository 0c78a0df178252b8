"""Time one migration-matrix cell and the whole default matrix, as developers run it.

    python benchmarks/bench_matrix.py [--repeat N] [--check]

Measures `nox -R -s "migrations(<reference row>)"` and `nox -R -s migrations`: wall
clock, virtualenvs reused, images already present. Image builds and virtualenv
creation are excluded: missing images are an error (build them with `invoke
image.build`), missing virtualenvs are created untimed first (`nox --install-only`).
Targets on the 2-core reference machine: a cell under 15 s, the matrix under 60 s.
`--check` exits 1 when a best time misses its target.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from devdb.containers import engine as containers  # noqa: E402
from devdb.errors import DevDbError  # noqa: E402
from devdb.images import table as images  # noqa: E402 - the checkout, not an install
from devdb.images.fetch import image_exists  # noqa: E402
from devdb.settings import load_settings  # noqa: E402

CELL_TARGET_SECONDS = 15.0
MATRIX_TARGET_SECONDS = 60.0
# nox's summary: "* migrations(pg17-ts2.19): success, took 9 seconds"
SESSION_LINE = re.compile(r"\* (migrations\([^)]*\)): (\w+), took (.+)$", re.M)


@dataclass(frozen=True)
class Run:
    what: str
    seconds: float
    exit_code: int
    sessions: list[tuple[str, str, str]]  # (session, result, nox's duration)


def nox_command() -> list[str]:
    beside_python = Path(sys.executable).parent / "nox"
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("nox")
    if found is None:
        raise DevDbError("nox is not installed", "pip install -r requirements.txt")
    return [found]


def require_images(source: str) -> None:
    """Fail rather than time an image pull or build."""
    client = containers.docker_client()
    missing = [
        spec.ref(source)
        for spec in images.IMAGES
        if not image_exists(client, spec.ref(source))
    ]
    if missing:
        raise DevDbError(
            f"image(s) missing: {', '.join(missing)}; the benchmark excludes builds",
            "build them first: `invoke image.build` (offline) or pull the official tags",
        )


def run_nox(what: str, *args: str, env: dict[str, str]) -> Run:
    command = [*nox_command(), *args]
    print(f"$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        print(output[-3000:], file=sys.stderr)
    return Run(what, seconds, result.returncode, SESSION_LINE.findall(output))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; best kept")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed"
    )
    options = parser.parse_args()

    env = dict(os.environ)
    settings = load_settings(env)
    try:
        require_images(
            settings.image_source if settings.image_source != "auto" else "offline"
        )
        if settings.image_source == "auto":
            env["DEVDB_IMAGE_SOURCE"] = "offline"  # what was checked above
    except DevDbError as error:
        print(error.render(), file=sys.stderr)
        return 1

    reference = images.reference_image().id
    cell_session = f"migrations({reference})"
    # Create missing virtualenvs outside the timing (a one-off, not the loop).
    run_nox("install", "-s", "migrations", "--install-only", env=env)

    runs: list[Run] = []
    for _ in range(options.repeat):
        runs.append(run_nox("cell", "-R", "-s", cell_session, env=env))
        runs.append(run_nox("matrix", "-R", "-s", "migrations", env=env))

    # A failed run can be fast for the wrong reason: only passing runs count.
    passed = [run for run in runs if run.exit_code == 0]
    best_cell = min(
        (r.seconds for r in passed if r.what == "cell"), default=float("inf")
    )
    best_matrix = min(
        (r.seconds for r in passed if r.what == "matrix"), default=float("inf")
    )
    print()
    print(
        f"machine: {os.cpu_count()} CPUs; image source {env.get('DEVDB_IMAGE_SOURCE')}"
    )
    for run in runs:
        status = "ok" if run.exit_code == 0 else f"FAILED (exit {run.exit_code})"
        print(f"{run.what:6} {run.seconds:6.1f} s  {status}")
        for session, result, took in run.sessions:
            print(f"         {session}: {result}, {took}")
    verdicts = [
        ("one cell", cell_session, best_cell, CELL_TARGET_SECONDS),
        ("matrix", "migrations", best_matrix, MATRIX_TARGET_SECONDS),
    ]
    missed = False
    for label, session, seconds, target in verdicts:
        within = seconds < target
        missed |= not within
        verdict = "within" if within else "OVER"
        print(
            f"{label:8} best {seconds:5.1f} s  target < {target:.0f} s  {verdict}  ({session})"
        )
    failed = any(run.exit_code != 0 for run in runs)
    if failed:
        print("some runs failed: the times above include a red cell", file=sys.stderr)
    return 1 if options.check and (missed or failed) else 0


if __name__ == "__main__":
    sys.exit(main())
