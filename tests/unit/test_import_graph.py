"""The library's shape: imports go one way (front ends -> library), never in circles.

The library is a few cross-cutting modules at the top of ``devdb/`` and a wing
(sub-package) per concern that has several modules. ``HOUSE_RULES`` says which wing
may import which; the foundation modules may be imported by everyone and import no
wing; the other top-level modules (safety, lifecycle, workflow, ...) tie the wings
together and may import any of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = PROJECT_ROOT / "devdb"
FRONT_ENDS = ("tasks", "noxfile", "tests", "benchmarks")

# Imported by every part of the library; they import nothing but each other.
FOUNDATION = frozenset(
    {
        "console",
        "database",
        "database_url",
        "errors",
        "failures",
        "files",
        "labels",
        "local_settings",
        "locality",
        "settings",
    }
)

# Which wings (and which top-level modules above the foundation) each wing may use.
# The images are built without knowing what runs in them; containers run images
# without knowing the schema; the schema's tools run in containers; lint and seed
# read the schema's revisions (seed asks the destructive-operation guard first);
# team carries the dev database across branches' histories; testdb builds its
# templates with the schema's migrations, on the dev container or a throwaway it
# starts (containers, images); it asks nothing (its databases are its own), so it
# needs no guard: snapshots, which replace the dev data, sit above.
HOUSE_RULES: dict[str, frozenset[str]] = {
    "images": frozenset(),
    "containers": frozenset({"images"}),
    "schema": frozenset({"images", "containers"}),
    "lint": frozenset({"images", "schema"}),
    "seed": frozenset({"schema", "safety"}),
    # Moving the dev database between branches' histories runs revisions in
    # containers and asks the guard before undoing any.
    "team": frozenset({"images", "containers", "schema", "safety"}),
    "testdb": frozenset({"images", "containers", "schema"}),
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in LIBRARY.rglob("*.py")}
    # `from devdb import labels` names the package too; the edge that counts is labels.
    targets = set(modules) - {"devdb"}
    return {
        name: {other for other in imported_modules(path) if other in targets} - {name}
        for name, path in modules.items()
    }


def part_of(module: str) -> str:
    """The wing a module belongs to, or its own name for a top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def rule_breaks(
    graph: dict[str, set[str]],
    rules: dict[str, frozenset[str]] = HOUSE_RULES,
    foundation: frozenset[str] = FOUNDATION,
) -> list[str]:
    """Every import that crosses a wall the house rules do not open, as a sentence."""
    breaks = []
    for module, imports in sorted(graph.items()):
        mine = part_of(module)
        for other in sorted(imports):
            theirs = part_of(other)
            if theirs == mine or theirs in foundation:
                continue
            if mine in foundation:
                breaks.append(f"foundation module {module} imports {other}")
            elif mine in rules and theirs not in rules[mine]:
                breaks.append(f"wing {mine} imports {theirs} ({module} -> {other})")
    return breaks


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with each wing drawn as one node."""
    parts: dict[str, set[str]] = {}
    for module, imports in graph.items():
        mine = part_of(module)
        parts.setdefault(mine, set()).update(
            part_of(other) for other in imports if part_of(other) != mine
        )
    return parts


def circle(graph: dict[str, set[str]]) -> str | None:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return " -> ".join(error.args[1])
    return None


def test_the_library_imports_no_circles():
    assert circle(library_graph()) is None


def test_no_circles_between_wings():
    assert circle(part_graph(library_graph())) is None


def test_each_wing_imports_only_what_the_house_rules_allow():
    assert rule_breaks(library_graph()) == []


def test_every_wing_has_a_rule_and_a_docstring_saying_its_concern():
    wings = sorted(path.parent.name for path in LIBRARY.glob("*/__init__.py"))
    assert wings == sorted(HOUSE_RULES)
    for wing in wings:
        docstring = ast.get_docstring(
            ast.parse((LIBRARY / wing / "__init__.py").read_text())
        )
        assert docstring, f"devdb/{wing}/__init__.py says nothing of its concern"


def test_the_foundation_and_the_rules_name_real_modules():
    tops = {path.stem for path in LIBRARY.glob("*.py")} - {"__init__"}
    assert tops >= FOUNDATION
    named = set().union(*HOUSE_RULES.values())
    assert named <= tops | set(HOUSE_RULES)


def test_the_library_never_imports_its_front_ends():
    for path in LIBRARY.rglob("*.py"):
        upward = {
            module
            for module in imported_modules(path)
            if module.split(".")[0] in FRONT_ENDS
        }
        assert not upward, f"{path.relative_to(LIBRARY)} imports {sorted(upward)}"


# --- the rules' own tests, on graphs made up for them ---------------------------------


def test_a_wing_importing_a_wing_its_rule_does_not_name_is_a_break():
    graph = {
        "devdb.images.table": {"devdb.schema.dump", "devdb.errors"},
        "devdb.schema.dump": {"devdb.containers.engine"},
        "devdb.containers.engine": {"devdb.images.table"},
    }
    assert rule_breaks(graph) == [
        "wing images imports schema (devdb.images.table -> devdb.schema.dump)"
    ]


def test_a_foundation_module_importing_a_wing_is_a_break():
    graph = {"devdb.settings": {"devdb.images.table"}, "devdb.images.table": set()}
    assert rule_breaks(graph) == [
        "foundation module devdb.settings imports devdb.images.table"
    ]


def test_top_level_modules_above_the_foundation_may_import_any_wing():
    graph = {"devdb.lifecycle": {"devdb.images.fetch", "devdb.schema.migrations"}}
    assert rule_breaks(graph) == []


def test_a_circle_between_wings_is_named_even_when_no_module_circles():
    graph = {
        "devdb.images.table": set(),
        "devdb.images.fetch": {"devdb.containers.engine"},
        "devdb.containers.engine": {"devdb.images.table"},
    }
    assert circle(graph) is None
    found = circle(part_graph(graph))
    assert found is not None and set(found.split(" -> ")) == {"images", "containers"}


# --- the front end stays light ----------------------------------------------------


@pytest.mark.parametrize(
    "heavy", ["sqlalchemy", "alembic", "docker", "psycopg2", "rich"]
)
def test_invoke_list_imports_nothing_heavy(heavy: str):
    """`invoke --list` loads the task collection only: the library waits for a task."""
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys, tasks; print({heavy!r} in sys.modules)"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


MAX_MODULE_LINES = 380
MAX_TOP_LEVEL_MODULES = 20


def test_modules_stay_readable_in_one_sitting() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for path in LIBRARY.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) >= MAX_MODULE_LINES
    }
    assert long == {}, f"modules of {MAX_MODULE_LINES} lines or more: {long}"
    top_level = [p for p in LIBRARY.glob("*.py") if p.name != "__init__.py"]
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, sorted(p.name for p in top_level)
