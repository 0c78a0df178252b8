"""The statements of Alembic's offline SQL, each with the state it runs in.

What `db.lint`'s rules read: a statement's text and line, whether it runs inside
a revision's transaction (or in an ``autocommit_block()``), and whether a
lock_timeout is in force. Quotes, dollar-quoted bodies and comments are skipped
over while splitting, so a ``;`` inside a function body does not end a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One SQL statement of the offline output, with the state it runs in."""

    text: str
    line: int  # 1-based, in the offline SQL
    in_transaction: bool
    lock_timeout_set: bool

    @property
    def normalised(self) -> str:
        """Upper case, comments dropped, whitespace collapsed: what rules match."""
        without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", " ", self.text, flags=re.S)
        return " ".join(without_comments.split()).upper()


DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")


def split_statements(sql: str) -> list[tuple[str, int]]:
    """The statements of ``sql`` and the line each starts on.

    Quotes, quoted identifiers, dollar-quoted bodies and comments are skipped over,
    so a ``;`` inside a function body does not end the statement.
    """
    statements: list[tuple[str, int]] = []
    start, index, length = 0, 0, len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            end = sql.find(char, index + 1)
            while end != -1 and sql[end + 1 : end + 2] == char:
                end = sql.find(char, end + 2)  # a doubled quote is an escaped one
            index = length if end == -1 else end + 1
        elif sql.startswith("--", index):
            end = sql.find("\n", index)
            index = length if end == -1 else end + 1
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = length if end == -1 else end + 2
        elif char == "$" and (tag := DOLLAR_TAG.match(sql, index)):
            end = sql.find(tag.group(), tag.end())
            index = length if end == -1 else end + len(tag.group())
        elif char == ";":
            _add_statement(statements, sql, start, index)
            start = index = index + 1
        else:
            index += 1
    _add_statement(statements, sql, start, length)
    return statements


def _add_statement(
    statements: list[tuple[str, int]], sql: str, start: int, end: int
) -> None:
    chunk = sql[start:end]
    # Skip leading blank lines and comment-only lines ("-- Running upgrade ...").
    lines = chunk.split("\n")
    offset = 0
    while offset < len(lines) and (
        not lines[offset].strip() or lines[offset].strip().startswith("--")
    ):
        offset += 1
    text = "\n".join(lines[offset:]).strip()
    if text:
        statements.append((text, sql.count("\n", 0, start) + offset + 1))


SET_LOCK_TIMEOUT = re.compile(
    r"^(SET (?P<local>LOCAL |SESSION )?LOCK_TIMEOUT\b|SELECT SET_CONFIG\('LOCK_TIMEOUT')"
)


def annotate(sql: str) -> list[Statement]:
    """Each statement with whether it runs in a transaction and under a lock_timeout."""
    result: list[Statement] = []
    in_transaction = session_timeout = local_timeout = False
    for text, line in split_statements(sql):
        words = " ".join(text.split()).upper()
        if words in ("BEGIN", "START TRANSACTION", "BEGIN TRANSACTION"):
            in_transaction = True
        elif words in ("COMMIT", "END", "ROLLBACK", "COMMIT TRANSACTION"):
            in_transaction = local_timeout = False
        elif match := SET_LOCK_TIMEOUT.match(words):
            if match.group("local") == "LOCAL " or words.endswith("TRUE)"):
                local_timeout = True
            else:
                session_timeout = True
        result.append(
            Statement(text, line, in_transaction, session_timeout or local_timeout)
        )
    return result
