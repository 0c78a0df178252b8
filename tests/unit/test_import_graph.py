"""The library's shape: imports go one way (front ends -> library), never in circles."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "devdb"


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


def library_graph() -> dict[str, set[str]]:
    modules = {f"devdb.{path.stem}": path for path in LIBRARY.glob("*.py")}
    return {
        name: {other for other in imported_modules(path) if other in modules} - {name}
        for name, path in modules.items()
    }


def test_the_library_imports_no_circles():
    try:
        order = list(TopologicalSorter(library_graph()).static_order())
    except CycleError as error:
        raise AssertionError(f"an import cycle: {' -> '.join(error.args[1])}") from None
    assert "devdb.errors" in order


def test_the_library_never_imports_its_front_ends():
    for path in LIBRARY.glob("*.py"):
        upward = {
            module
            for module in imported_modules(path)
            if module.split(".")[0] in ("tasks", "noxfile", "tests", "benchmarks")
        }
        assert not upward, f"{path.name} imports {sorted(upward)}"
