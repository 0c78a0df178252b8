"""What CREATE DATABASE does not copy: the per-database settings, set again.

``ALTER DATABASE ... SET`` and ``ALTER ROLE ... IN DATABASE ... SET`` live in the
shared catalog ``pg_db_role_setting``, keyed by the database's oid: a clone of a
template (or of the dev database) starts without them. They are read from the
source as PostgreSQL stores them and set on the copy, each value a literal.
"""

from __future__ import annotations

from typing import Any

from devdb.database import quote_identifier

Setting = tuple[str | None, str, str]  # (role, or None for every role; name; value)

# Settings whose values are lists of names PostgreSQL quotes (GUC_LIST_QUOTE): each
# element is set as a literal of its own, or the whole list would become one name.
LIST_QUOTED = frozenset(
    {
        "search_path",
        "temp_tablespaces",
        "session_preload_libraries",
        "shared_preload_libraries",
        "local_preload_libraries",
    }
)


def read_settings(cursor: Any, database: str) -> tuple[Setting, ...]:
    """The per-database settings ``database`` holds, as PostgreSQL stores them."""
    cursor.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
        "  JOIN pg_database d ON d.oid = s.setdatabase"
        "  LEFT JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE d.datname = %s ORDER BY r.rolname NULLS FIRST",
        (database,),
    )
    found: list[Setting] = []
    for role, entries in cursor.fetchall():
        for entry in entries or ():
            name, _, value = str(entry).partition("=")
            found.append((role, name, value))
    return tuple(found)


def copy_settings(cursor: Any, settings: tuple[Setting, ...], target: str) -> None:
    for role, name, value in settings:
        cursor.execute(setting_statement(target, role, name, value))


def split_list(value: str) -> list[str]:
    """A list setting as PostgreSQL stores it ('"$user", public') -> its names."""
    items: list[str] = []
    current: list[str] = []
    quoted = in_quotes = False
    index = 0
    while index < len(value):
        char = value[index]
        if in_quotes:
            if char == '"' and value[index + 1 : index + 2] == '"':
                current.append('"')
                index += 1
            elif char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = quoted = True
        elif char == ",":
            items.append("".join(current) if quoted else "".join(current).strip())
            current, quoted = [], False
        elif not char.isspace() or current:
            current.append(char)
        index += 1
    last = "".join(current) if quoted else "".join(current).strip()
    if last or quoted or items:
        items.append(last)
    return items


def literal(value: str) -> str:
    """A string literal (standard_conforming_strings, PostgreSQL's default)."""
    return "'" + value.replace("'", "''") + "'"


def setting_statement(database: str, role: str | None, name: str, value: str) -> str:
    """The statement that gives ``database`` a per-database setting again."""
    target = (
        f"ALTER ROLE {quote_identifier(role)} IN DATABASE {quote_identifier(database)}"
        if role
        else f"ALTER DATABASE {quote_identifier(database)}"
    )
    setting = ".".join(quote_identifier(part) for part in name.split("."))
    if name.lower() in LIST_QUOTED:
        shown = ", ".join(literal(item) for item in split_list(value)) or "''"
    else:
        shown = literal(value)
    return f"{target} SET {setting} = {shown}"
