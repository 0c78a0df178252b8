"""One error type for every expected failure: what went wrong, and what to do."""

from __future__ import annotations

from dataclasses import dataclass


class DevDbError(Exception):
    """An expected failure, shown to people as an ERROR line and a TIP line."""

    def __init__(self, message: str, tip: str) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip

    def render(self) -> str:
        return f"ERROR: {self.message}\nTIP: {self.tip}"


def first_line(text: str) -> str:
    """The first line of a third-party error's text, for an ERROR line."""
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


@dataclass(frozen=True)
class Problem:
    """One finding of a check that goes on after it (db.check lists them all)."""

    message: str
    tip: str
