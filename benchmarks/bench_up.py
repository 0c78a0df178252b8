"""How fast is `db.up`? Cold start, warm start, and how soon readiness notices.

    python benchmarks/bench_up.py [--runs 3]

Uses its own container (<DEVDB_CONTAINER_NAME>-bench on a free port) and removes it after.
The image must be present (the offline build by default: DEVDB_IMAGE_SOURCE=offline).

What it prints:
- cold: `invoke db.up` as a whole process on an empty volume, and when a query from
  outside first succeeded (counted from the process start); then where that time
  went, phase by phase, from Docker's timestamps (container created, started, each
  log line) and the prober's first query;
- warm: `invoke db.up` whole process with the database already running (target
  0.3 s), and `invoke --list` (target 0.2 s): what every task pays before it runs;
- notice: how long after the server first answered on TCP (a PostgreSQL SSLRequest
  answered by the postmaster, not Docker's proxy accepting) and after a query first
  succeeded, ``wait_until_ready`` returned, measured in-process (target < 100 ms).
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devdb import lifecycle  # noqa: E402
from devdb.containers import engine as containers  # noqa: E402
from devdb.containers import readiness  # noqa: E402
from devdb.settings import Settings, load_settings  # noqa: E402

# Named after the checkout's dev container, so two checkouts benchmark side by side.
CONTAINER = f"{os.environ.get('DEVDB_CONTAINER_NAME') or 'stock-tracker-db'}-bench"
# The 8-byte SSLRequest; the postmaster answers one byte ('S' or 'N'). Docker's
# userland proxy accepts TCP before anything listens inside, then closes: no byte.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Prober(threading.Thread):
    """Probes the port every 5 ms; records the first TCP answer and query.

    Not every millisecond: each probe is a connection Docker's userland proxy
    accepts and relays, and a thousand a second slow the very start measured
    (on two cores); 5 ms is far below the phases' size.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.first_answer: float | None = None
        self.first_query: float | None = None
        self.stop = threading.Event()

    def postmaster_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.settings.port), 0.5) as s:
                s.settimeout(0.5)
                s.sendall(SSL_REQUEST)
                return s.recv(1) in (b"S", b"N")
        except OSError:
            return False

    def run(self) -> None:
        s = self.settings
        while not self.stop.is_set() and self.first_query is None:
            if self.first_answer is None and self.postmaster_answers():
                self.first_answer = time.monotonic()
            if (
                self.first_answer is not None
                and readiness.try_query(
                    "127.0.0.1", s.port, s.user, s.password, s.database
                )
                is None
            ):
                self.first_query = time.monotonic()
            time.sleep(0.005)


def destroy(settings: Settings) -> None:
    lifecycle.destroy(settings, yes=True, force=False)


def invoke_list(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def invoke_up(env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "invoke", "db.up"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


# Cold start phases, in order: (label, the log line that ends the phase). Lines
# come from the entrypoint and the server; a phase whose line is absent (another
# image, an init path with init files) is not counted.
LOG_MARKS = (
    ("entrypoint up to initdb (bash, directories, drop root)", "initialising "),
    ("initdb", "creating database |starting the init server"),
    ("create POSTGRES_DB / run init files", "init complete"),
    ("server start until it accepts connections", "ready to accept connections"),
)


def docker_time(stamp: str) -> float:
    """Docker's RFC 3339 timestamp (nanoseconds) as a POSIX time."""
    stamp = stamp.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    parsed = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return parsed.timestamp() + float(f"0.{fraction or 0}")


def phases(
    container_name: str, process_start: float, first_query: float, end: float
) -> dict[str, float]:
    """Seconds per phase of one cold `db.up`, from Docker's own timestamps."""
    container = containers.docker_client().containers.get(container_name)
    created = docker_time(container.attrs["Created"])
    started = docker_time(container.attrs["State"]["StartedAt"])
    result = {
        "python start, imports, Docker API until created": created - process_start,
        "docker start (namespaces, volume, port)": started - created,
    }
    lines = container.logs(timestamps=True).decode("utf-8", "replace").splitlines()
    previous = started
    for label, marks in LOG_MARKS:
        stamps = [
            docker_time(line.split(" ", 1)[0])
            for line in lines
            if any(mark in line for mark in marks.split("|"))
        ]
        if stamps:
            # The last match: the init server also says "ready to accept".
            result[label] = stamps[-1] - previous
            previous = stamps[-1]
    result["server ready until a query from outside succeeds"] = first_query - previous
    result["first query until db.up exits (upgrade to head)"] = end - first_query
    return result


def cold(
    settings: Settings, env: dict[str, str]
) -> tuple[float, float, dict[str, float]]:
    destroy(settings)
    prober = Prober(settings)
    started = time.monotonic()
    wall_start = time.time()
    prober.start()
    total = invoke_up(env)
    prober.join(timeout=5)
    assert prober.first_query is not None, "no query succeeded during cold db.up"
    first_query = prober.first_query - started
    breakdown = phases(
        settings.container_name,
        wall_start,
        wall_start + first_query,
        wall_start + total,
    )
    return total, first_query, breakdown


def notice(settings: Settings) -> tuple[float, float]:
    """In-process `up` on an empty volume; readiness return vs the prober's firsts."""
    destroy(settings)
    returned: list[float] = []
    original = readiness.wait_until_ready

    def timed(*args: object, **kwargs: object) -> float:
        waited = original(*args, **kwargs)  # type: ignore[arg-type]
        returned.append(time.monotonic())
        return waited

    readiness.wait_until_ready = timed  # type: ignore[assignment]
    prober = Prober(settings)
    prober.start()
    try:
        lifecycle.up(settings, migrate=False)
    finally:
        readiness.wait_until_ready = original  # type: ignore[assignment]
        prober.stop.set()
        prober.join(timeout=5)
    assert prober.first_answer and prober.first_query and returned
    return returned[0] - prober.first_answer, returned[0] - prober.first_query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    port = free_port()
    # Timed as on a developer's machine, where Python keeps its bytecode cache: a
    # shell with PYTHONDONTWRITEBYTECODE (some sandboxes and CI images set it)
    # compiles the toolkit's modules from source on every run, tens of ms more.
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
        },
        "DEVDB_CONTAINER_NAME": CONTAINER,
        "DEVDB_PORT": str(port),
        "DEVDB_IMAGE_SOURCE": os.environ.get("DEVDB_IMAGE_SOURCE", "offline"),
    }
    settings = replace(load_settings(env), port=port)
    containers.docker_client()  # fail early and clearly without Docker
    invoke_list(env)  # writes the bytecode cache, should it be missing
    try:
        colds = [cold(settings, env) for _ in range(runs)]
        warms = [invoke_up(env) for _ in range(max(runs, 5))]
        lists = [invoke_list(env) for _ in range(max(runs, 5))]
        notices = [notice(settings) for _ in range(runs)]
    finally:
        destroy(settings)

    def show(label: str, values: list[float], unit: str = "s") -> None:
        scale = 1000 if unit == "ms" else 1
        shown = ", ".join(f"{v * scale:.{0 if unit == 'ms' else 2}f}" for v in values)
        print(
            f"{label:<66} median {statistics.median(values) * scale:8.2f} {unit}"
            f"   ({shown})"
        )

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"db.up benchmark: {runs} runs, image source {env['DEVDB_IMAGE_SOURCE']}, "
        f"load average {load} on {os.cpu_count()} CPUs, bytecode cache warm"
    )
    show("cold db.up, whole process incl. upgrade to head", [c[0] for c in colds])
    show(
        "cold db.up, process start -> first outside query succeeds",
        [c[1] for c in colds],
    )
    for label in colds[0][2]:
        show(f"  phase: {label}", [c[2].get(label, 0.0) for c in colds])
    show("warm db.up, whole process (target 0.3 s)", warms)
    show("invoke --list, whole process (target 0.2 s)", lists)
    show(
        "notice after server first answers TCP (SSLRequest)",
        [n[0] for n in notices],
        "ms",
    )
    show(
        "notice after a query first succeeds (target < 100 ms)",
        [n[1] for n in notices],
        "ms",
    )


if __name__ == "__main__":
    main()
