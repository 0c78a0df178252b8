"""What people read: progress, notes and warnings, on stderr (stdout stays data)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    console.print(escape(message))


def warn(message: str) -> None:
    console.print(f"[yellow]WARNING:[/] {escape(message)}")


@contextmanager
def progress(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the latest line of a long job; plain lines when not a TTY.

    Yields ``update(line)``. On a terminal the line replaces the last one; in CI
    logs every line is printed, so a failure shows what happened before it.
    """
    if console.is_terminal:
        with console.status(escape(title)) as status:
            yield lambda line: status.update(f"{escape(title)} [dim]{escape(line)}[/]")
    else:
        console.print(escape(title))
        yield lambda line: console.print(f"  {escape(line)}")
    console.print(f"[green]done:[/] {escape(title)}")
