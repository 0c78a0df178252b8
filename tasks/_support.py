"""What every task shares: loading settings and turning DevDbError into an exit."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from invoke import Task
from invoke.exceptions import Exit
from invoke.parser import Argument

if TYPE_CHECKING:
    from devdb.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(function: F) -> F:
    """An expected failure ends the task with ERROR + TIP and exit 1, no traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from devdb.errors import DevDbError

        try:
            with warnings.catch_warnings():
                # Alembic warns, with its own source line, about a down_revision no
                # file defines; the ERROR line below names the file instead.
                warnings.filterwarnings(
                    "ignore",
                    message=r"Revision \S+ referenced from",
                    category=UserWarning,
                )
                # ... and about two files with one id; the ERROR names both files.
                warnings.filterwarnings(
                    "ignore",
                    message=r"Revision \S+ is present more than once",
                    category=UserWarning,
                )
                return function(*args, **kwargs)
        except DevDbError as error:
            raise Exit(error.render(), code=1) from None
        except KeyboardInterrupt:
            raise Exit("Interrupted.", code=130) from None
        except Exception as error:
            # Unforeseen by the library but not a bug here: a broken revision file,
            # a failure deep in Alembic, Docker or the database. Still one line and
            # a way forward (devdb.failures decides), never a traceback. Their
            # messages carry no passwords (URLs are never part of them).
            from devdb.failures import explain
            from devdb.settings import PROJECT_ROOT

            explained = explain(
                error, PROJECT_ROOT / "backend" / "alembic" / "versions"
            )
            if explained is None:
                raise
            raise Exit(explained.render(), code=1) from None

    return wrapper  # type: ignore[return-value]


def whole_number(
    value: str, option: str, *, minimum: int, maximum: int | None = None
) -> int:
    """An option's whole number, validated here rather than converted by invoke.

    Options declared as int make invoke convert them before any task code runs,
    so `--steps abc` ended in a traceback; they are declared as text and read here.
    """
    from devdb.errors import DevDbError

    text = value.strip()
    number = int(text) if text.lstrip("-").isdigit() else None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        upper = f" and {maximum}" if maximum is not None else " or more"
        raise DevDbError(
            f"{option} takes a whole number, got {value!r}",
            f"give {option} a whole number: {minimum}{upper}"
            if maximum is None
            else f"give {option} a whole number between {minimum}{upper}",
        )
    return number


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
    from devdb.containers.dev import resolve

    return resolve(settings())


def guarded_settings(action: str, *, force: bool) -> Settings:
    """Settings aimed at the database, once the non-local guard let ``action`` by.

    The guard comes first: the dev database's port is looked up on the Docker
    engine, and an engine on another machine is refused before it is reached.
    """
    from devdb.containers.dev import resolve
    from devdb.safety import refuse_non_local

    chosen = settings()
    refuse_non_local(chosen, action, force=force)
    return resolve(chosen)


class OptionalPositional(Argument):
    """A positional argument that may be left out: `invoke db.restore [NAME]`.

    invoke's parser reads "value is None" as "still missing" for two things: a
    bare word after the task fills a missing positional argument, and a task
    whose arguments end with one still missing is an error. This argument is
    missing to the first question only, and never to a word that is a flag
    (`db.restore --help`). Left out, the task gets None.
    """

    @property
    def value(self) -> Any:
        if self._value is not None:
            return self._value
        frame: FrameType | None = sys._getframe(1)
        for _ in range(8):  # up to the parser's method that asks
            if frame is None:
                break
            asker = frame.f_code.co_name
            if asker == "see_positional_arg":
                return None
            if asker == "handle":
                return (
                    None
                    if not str(frame.f_locals.get("token", "-")).startswith("-")
                    else ""
                )
            if asker == "complete_context":
                return ""
            frame = frame.f_back
        return None

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


class OptionalPositionalTask(Task):
    """A task whose positional arguments may be left out (see OptionalPositional)."""

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        arguments = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        return [
            OptionalPositional(
                names=argument.names,
                kind=argument.kind,
                default=None,
                help=argument.help,
                positional=True,
                attr_name=argument.attr_name,
            )
            if argument.positional
            else argument
            for argument in arguments
        ]
