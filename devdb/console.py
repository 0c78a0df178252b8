"""What people read: progress, notes and warnings, on stderr (stdout stays data).

Long work (image builds, pulls) shows one line per phase with its elapsed time, not
the tools' own output: that goes to a log file under the git-ignored
``.cache/devdb/logs``, named when the phase ends. ``DEVDB_VERBOSE=1`` streams it as
well (``.ci/run`` does, so CI logs keep every line).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from devdb.settings import PROJECT_ROOT

console = Console(stderr=True, highlight=False, soft_wrap=True)
LOG_DIR = PROJECT_ROOT / ".cache" / "devdb" / "logs"


def note(message: str) -> None:
    console.print(escape(message))


def warn(message: str) -> None:
    console.print(f"[yellow]WARNING:[/] {escape(message)}")


def verbose() -> bool:
    return os.environ.get("DEVDB_VERBOSE", "").strip() not in ("", "0", "false")


def log_path_for(title: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80]
    return LOG_DIR / f"{slug or 'work'}.log"


def shown(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


@contextmanager
def progress(
    title: str, *, announce_failure: bool = True
) -> Iterator[Callable[[str], None]]:
    """One live line for a long phase; its full output in a log file.

    Yields ``update(line)`` for each line of the work's output. On a terminal a
    spinner shows the elapsed time and the latest line; elsewhere (CI, pipes) one
    line when the phase ends, plus one when it starts if its output streams (a
    header for it). A failing phase names its log, unless the caller expects the
    failure and says what happens instead (``announce_failure=False``); the error
    raised from inside carries the lines that explain it.
    """
    started = time.monotonic()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = log_path_for(title)
    streaming = verbose()
    with log_path.open("w", encoding="utf-8") as log:

        def record(line: str) -> None:
            log.write(line + "\n")
            log.flush()
            if streaming:
                console.print(f"  {escape(line)}")

        try:
            if console.is_terminal and not streaming:
                with console.status(escape(title)) as status:

                    def update(line: str) -> None:
                        record(line)
                        elapsed = time.monotonic() - started
                        status.update(
                            f"{escape(title)} [dim]({elapsed:.0f} s) "
                            f"{escape(line.strip()[:70])}[/]"
                        )

                    yield update
            else:
                if streaming:
                    console.print(f"{escape(title)} ...")
                yield record
        except BaseException:
            if not announce_failure:
                raise
            elapsed = time.monotonic() - started
            console.print(
                f"[red]failed:[/] {escape(title)} after {elapsed:.0f} s; "
                f"full log: {escape(shown(log_path))}"
            )
            raise
    elapsed = time.monotonic() - started
    console.print(
        f"[green]done:[/] {escape(title)} ({elapsed:.0f} s; "
        f"log: {escape(shown(log_path))})"
    )
