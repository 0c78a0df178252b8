"""The README is a front door and the docs say only what is true.

Every document in docs/ is linked from the README, every relative link resolves,
and every command line they show names a task, session, option or script that
exists: invoke's own parser knows each task and option, ``nox -l --json`` each
session, and each benchmark's ``--help`` its options.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tasks import namespace

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 150

CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A task is `<namespace>.<task>` or one of the top-level tasks.
TOP_LEVEL_TASKS = {"doctor"}
INVOKE = re.compile(
    r"(?:^|[\s(])(?:\S*/)?invoke\s+([a-z][\w-]*\.[\w-]+|"
    + "|".join(TOP_LEVEL_TASKS)
    + r")\b((?:\s+[^\s|`;#]+)*)"
)
NOX_SESSION = re.compile(r"(?:^|\s)(?:\S*/)?nox\s+-s\s+(\"[^\"]+\"|\S+)")
BENCHMARK = re.compile(r"(benchmarks/\w+\.py)((?:\s+\[?--?[\w-]+[^\s`]*)*)")
FLAG = re.compile(r"(?<![\w-])(--?[a-z][\w-]*)")


def command_lines(page: Path) -> list[str]:
    """Every line of code the page shows: fenced blocks, and inline code spans."""
    text = page.read_text()
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    prose = FENCE.sub("", text)
    return lines + CODE_SPAN.findall(prose)


def invoked(page: Path) -> list[tuple[str, list[str]]]:
    found = []
    for line in command_lines(page):
        for match in INVOKE.finditer(line):
            found.append((match[1], FLAG.findall(match[2])))
    return found


def task_flags(task_name: str) -> set[str]:
    task = namespace[task_name]
    flags = {"--help", "-h"}
    for argument in task.get_arguments():
        for name in argument.names:
            dashed = name.replace("_", "-")
            flags.add(f"--{dashed}" if len(dashed) > 1 else f"-{dashed}")
            if argument.kind is bool:
                flags.add(f"--no-{dashed}")
    return flags


@cache
def nox_sessions() -> set[str]:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "nox"), "-l", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    sessions = json.loads(listed.stdout)
    return {s["session"] for s in sessions} | {s["name"] for s in sessions}


def test_the_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_every_document_is_linked_from_the_readme():
    links = {ROOT / target for target in LINK.findall(README.read_text())}
    missing = [page.name for page in DOCS if page not in links]
    assert DOCS and not missing, f"not linked from the README: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page: Path):
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_invoke_line_names_a_real_task_and_options(page: Path):
    for task_name, flags in invoked(page):
        try:
            known = task_flags(task_name)
        except (KeyError, ValueError):
            raise AssertionError(f"{page.name}: no task {task_name}") from None
        unknown = [flag for flag in flags if flag not in known]
        assert not unknown, f"{page.name}: invoke {task_name} has no {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_nox_session_named_exists(page: Path):
    for line in command_lines(page):
        for match in NOX_SESSION.finditer(line):
            session = match[1].strip('"')
            if "<" in session:
                continue  # a placeholder: migrations(<row>)
            assert session in nox_sessions(), f"{page.name}: no nox session {session}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_benchmark_and_its_options_exist(page: Path):
    for line in command_lines(page):
        for match in BENCHMARK.finditer(line):
            script = ROOT / match[1]
            assert script.is_file(), f"{page.name}: no {match[1]}"
            flags = FLAG.findall(match[2])
            if flags:
                shown = subprocess.run(
                    [sys.executable, str(script), "--help"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                missing = [flag for flag in flags if flag not in shown]
                assert not missing, f"{page.name}: {match[1]} has no {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_script_named_exists(page: Path):
    for path in re.findall(
        r"(?<![\w/.])((?:scripts|benchmarks|\.ci)/[\w.-]+)", page.read_text()
    ):
        assert (ROOT / path).exists(), f"{page.name} names {path}"


def test_the_command_finder_sees_what_the_readme_shows():
    """The finder itself: it must see the README's everyday tasks and their options."""
    found: dict[str, set[str]] = {}
    for task_name, flags in invoked(README):
        found.setdefault(task_name, set()).update(flags)
    assert "db.up" in found and "db.check" in found
    assert "--revision" in found["db.upgrade"]
    assert invoked_from("`invoke db.seed --profile week`") == [
        ("db.seed", ["--profile"])
    ]


def invoked_from(text: str) -> list[tuple[str, list[str]]]:
    return [
        (match[1], FLAG.findall(match[2]))
        for span in CODE_SPAN.findall(text)
        for match in INVOKE.finditer(span)
    ]


def test_what_no_sync_can_cost_is_said_truly() -> None:
    """--no-sync leaves the new cluster's catalogs unsynced: a crash right after
    creation can cost the volume (db.destroy), which db.reset alone cannot mend."""
    images = (ROOT / "docs" / "images.md").read_text(encoding="utf-8")
    said = images[images.index("POSTGRES_INITDB_ARGS=--no-sync` for the dev") :]
    said = " ".join(said[: said.index("never a row")].split())
    assert "db.destroy" in said
    assert "cost a `db.reset`" not in said
    dev = (ROOT / "devdb" / "containers" / "dev.py").read_text(encoding="utf-8")
    assert "`db.destroy` and `db.up`" in dev
