"""Time offline image builds as developers run them: `invoke image.build --force`.

    python benchmarks/bench_build.py [--image ID ...]

Each listed image (default: every row) is rebuilt with --force, one after the
other, and the wall-clock time printed per image and in total. With the build
cache (.cache/devdb: root filesystems, compiled TimescaleDB) warm this is the
"nothing changed" case, which should take seconds per image; run it after
`rm -r .cache/devdb` to time builds from nothing (minutes: debootstrap and the
compile). Needs root, like every offline build. Times print, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from devdb.images import table as images  # noqa: E402 - the checkout, not an install
from devdb.settings import load_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image",
        action="append",
        choices=[spec.id for spec in images.IMAGES],
        help="an image id (repeatable); default: every row",
    )
    options = parser.parse_args()
    ids = options.image or [spec.id for spec in images.IMAGES]
    invoke = Path(sys.executable).parent / "invoke"
    cache = load_settings().cache_dir
    print(
        f"machine: {os.cpu_count()} CPUs; cache {cache} "
        f"({'present' if cache.is_dir() else 'empty: builds from nothing'})"
    )
    results: list[tuple[str, float, int]] = []
    for image_id in ids:
        command = [str(invoke), "image.build", "--image", image_id, "--force"]
        print(f"$ {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            print((done.stdout + done.stderr)[-2000:], file=sys.stderr)
        results.append((image_id, seconds, done.returncode))
    print()
    for image_id, seconds, code in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{image_id:14} {seconds:7.1f} s  {status}")
    print(f"{'all':14} {sum(s for _, s, _ in results):7.1f} s")
    return 1 if any(code for _, _, code in results) else 0


if __name__ == "__main__":
    sys.exit(main())
