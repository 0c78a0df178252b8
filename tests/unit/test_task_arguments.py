"""Optional positional arguments: `invoke db.restore [NAME]`, parsed by invoke itself."""

from __future__ import annotations

import pytest
from invoke import Program
from invoke.parser import Parser, ParseResult

from tasks import namespace


def parse(*argv: str) -> ParseResult:
    program = Program()
    parser = Parser(initial=program.initial_context, contexts=namespace.to_contexts())
    return parser.parse_argv(list(argv))[1:]  # [0]: the core options


@pytest.mark.parametrize("task", ["db.snapshot", "db.restore"])
def test_the_name_may_be_left_out(task: str) -> None:
    [context] = parse(task)
    assert context.as_kwargs["name"] is None


@pytest.mark.parametrize(
    "argv",
    [
        ("db.restore", "before-002"),
        ("db.restore", "before-002", "--yes"),
        ("db.restore", "--yes", "before-002"),
    ],
)
def test_a_bare_word_is_the_name_wherever_it_stands(argv: tuple[str, ...]) -> None:
    [context] = parse(*argv)
    assert context.as_kwargs["name"] == "before-002"
    assert context.as_kwargs["yes"] is ("--yes" in argv)


def test_a_flag_is_never_taken_for_the_name() -> None:
    result = parse("db.snapshot", "--drop", "old", "--yes")
    [context] = result
    assert context.as_kwargs == {
        "name": None,
        "drop": "old",
        "yes": True,
        "force": False,
    }


def test_help_is_still_help() -> None:
    program = Program()
    parser = Parser(initial=program.initial_context, contexts=namespace.to_contexts())
    core, context = parser.parse_argv(["db.restore", "--help"])
    assert core.args["help"].value == "db.restore"
    assert context.as_kwargs["name"] is None


def test_a_second_task_after_the_name_is_a_task() -> None:
    names = [context.name for context in parse("db.restore", "x", "db.snapshots")]
    assert names == ["db.restore", "db.snapshots"]
