"""What every task shares: loading settings and turning DevDbError into an exit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.exceptions import Exit

if TYPE_CHECKING:
    from devdb.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
UNFORESEEN_SOURCES = ("docker.", "sqlalchemy.", "psycopg2", "alembic.")


def reports_errors(function: F) -> F:
    """An expected failure ends the task with ERROR + TIP and exit 1, no traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from devdb.errors import DevDbError

        try:
            return function(*args, **kwargs)
        except DevDbError as error:
            raise Exit(error.render(), code=1) from None
        except KeyboardInterrupt:
            raise Exit("Interrupted.", code=130) from None
        except Exception as error:
            # A failure the library did not foresee, from Docker or the database:
            # still one line and a way forward, not a traceback. Their messages
            # carry no passwords (URLs are never part of them).
            if not type(error).__module__.startswith(UNFORESEEN_SOURCES):
                raise
            reason = str(error).strip().splitlines() or [type(error).__name__]
            raise Exit(
                DevDbError(
                    f"{type(error).__name__}: {reason[0]}",
                    "run `invoke db.status` to see the state, then retry; if it "
                    "persists, report it with the command you ran",
                ).render(),
                code=1,
            ) from None

    return wrapper  # type: ignore[return-value]


TASKS_CHECKOUT = Path(__file__).resolve().parent.parent


def settings() -> Settings:
    from devdb.errors import DevDbError
    from devdb.settings import PROJECT_ROOT, load_settings

    # invoke finds tasks/ in the current directory, Python finds devdb wherever the
    # venv installed it from: another checkout's venv would migrate, dump and check
    # that checkout's files.
    if PROJECT_ROOT != TASKS_CHECKOUT:
        raise DevDbError(
            f"these tasks come from {TASKS_CHECKOUT}, but the devdb library in use "
            f"comes from {PROJECT_ROOT}",
            "use this checkout's own venv: run scripts/onboard.sh here, then "
            ".venv/bin/invoke",
        )
    return load_settings()


def resolved_settings() -> Settings:
    """Settings aimed at where the dev database really listens."""
    from devdb.devcontainer import resolve

    return resolve(settings())
