"""How long does `db.rebase` take for one revision, dev database carried included?

    python benchmarks/bench_rebase.py [--runs 3]

Each run builds the team scenario afresh in a temporary folder: an origin made
from this checkout, a teammate's next revision pushed to its `main`, and my own
revision with the same id applied to my dev database holding the `smoke` seed
rows; then `git merge origin/main`. Only `invoke db.rebase` is timed (target: at
most 15 s on a 2-core machine). Containers are removed after each run. Timings
print; no test asserts them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "*.egg-info", "devdb.local.toml", ".cache",
)  # fmt: skip
THEIRS = """
def upgrade() -> None:
    op.execute("CREATE TABLE bench_trades (symbol TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)")
    op.execute("SELECT create_hypertable('bench_trades', by_range('at'))")


def downgrade() -> None:
    op.execute("DROP TABLE bench_trades")
"""
MINE = """
def upgrade() -> None:
    op.execute("ALTER TABLE tick_data ADD COLUMN bench_exchange VARCHAR(10)")


def downgrade() -> None:
    op.execute("ALTER TABLE tick_data DROP COLUMN bench_exchange")
"""


def run(where: Path, *command: str, env: dict[str, str], check: bool = True) -> str:
    done = subprocess.run(
        command,
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def person(
    folder: Path, origin: Path, name: str, suffix: str
) -> tuple[Path, dict[str, str]]:
    clone = folder / name
    run(folder, "git", "clone", "-q", str(origin), str(clone), env=dict(os.environ))
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),
        "DEVDB_CONTAINER_NAME": f"bench-rebase-{name}-{suffix}",
        "DEVDB_PORT": "0",
        "DEVDB_IMAGE_SOURCE": os.environ.get("DEVDB_IMAGE_SOURCE", "offline"),
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": f"{name}@localhost",
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": f"{name}@localhost",
    }  # fmt: skip
    return clone, env


def add_revision(clone: Path, env: dict[str, str], message: str, body: str) -> None:
    invoke = [sys.executable, "-m", "invoke"]
    versions = clone / "backend" / "alembic" / "versions"
    before = set(versions.glob("*.py"))
    run(clone, *invoke, "db.revision", "-m", message, env=env)
    [path] = set(versions.glob("*.py")) - before
    text = path.read_text()
    path.write_text(text[: text.index("\ndef upgrade()")] + body)
    for task in ("db.up", "db.upgrade", "db.dump-schema"):
        run(clone, *invoke, task, env=env)
    run(clone, "git", "add", "-A", env=env)
    run(clone, "git", "commit", "-q", "-m", message, env=env)


def one_run(number: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-rebase-") as directory:
        folder = Path(directory)
        env = dict(os.environ)
        seed = folder / "seed"
        shutil.copytree(ROOT, seed, ignore=NOT_COPIED)
        run(seed, "git", "init", "-q", "-b", "main", env=env)
        run(seed, "git", "add", "-A", env=env)
        run(
            seed,
            "git",
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@localhost",
            "commit",
            "-q",
            "-m",
            "released",
            env=env,
        )
        origin = folder / "origin.git"
        run(folder, "git", "clone", "-q", "--bare", str(seed), str(origin), env=env)
        suffix = f"{os.getpid()}-{number}"
        teammate, their_env = person(folder, origin, "teammate", suffix)
        me, my_env = person(folder, origin, "me", suffix)
        try:
            add_revision(teammate, their_env, "bench trades", THEIRS)
            run(teammate, "git", "push", "-q", "origin", "main", env=their_env)
            run(me, "git", "switch", "-q", "-c", "feature", env=my_env)
            add_revision(me, my_env, "bench exchange", MINE)
            run(me, sys.executable, "-m", "invoke", "db.seed", "--yes", env=my_env)
            run(me, "git", "fetch", "-q", env=my_env)
            run(me, "git", "merge", "origin/main", env=my_env, check=False)
            started = time.perf_counter()
            told = run(me, sys.executable, "-m", "invoke", "db.rebase", env=my_env)
            seconds = time.perf_counter() - started
        finally:
            for env_of in (their_env, my_env):
                name = env_of["DEVDB_CONTAINER_NAME"]
                subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
                subprocess.run(
                    ["docker", "volume", "rm", f"{name}-data"], capture_output=True
                )
        carried = "carried with its rows" in told
        said = next(
            (line for line in told.splitlines() if "db.rebase took" in line), ""
        )
        print(
            f"run {number}: invoke db.rebase {seconds:.1f} s ({said}; dev database carried: {carried})"
        )
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    times = [one_run(number) for number in range(1, options.runs + 1)]
    print(
        f"db.rebase of one revision: median {statistics.median(times):.1f} s "
        f"(min {min(times):.1f}, max {max(times):.1f}; target <= 15 s)"
    )


if __name__ == "__main__":
    main()
