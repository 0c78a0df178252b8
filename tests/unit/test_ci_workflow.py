"""The CI workflow runs exactly the cells `nox -l --json` lists (no YAML parser needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from devdb.images import table as images
from devdb.settings import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "migrations.yml"


def nox_sessions() -> list[dict[str, Any]]:
    nox = Path(sys.executable).parent / "nox"
    listed = subprocess.run(
        [str(nox), "-l", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(listed.stdout)


def test_the_cells_script_lists_every_image_row_once() -> None:
    sessions = nox_sessions()
    cells = subprocess.run(
        [sys.executable, "scripts/ci_cells.py"],
        cwd=PROJECT_ROOT,
        input=json.dumps(sessions),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(cells.stdout) == [spec.id for spec in images.IMAGES]
    listed = {s["session"] for s in sessions if s["name"] == "migrations"}
    assert listed == {f"migrations({spec.id})" for spec in images.IMAGES}


def test_the_workflow_builds_its_matrix_from_nox_and_runs_each_cell() -> None:
    text = WORKFLOW.read_text()
    assert "nox -l --json | python scripts/ci_cells.py" in text
    assert "image: ${{ fromJSON(needs.cells.outputs.images) }}" in text
    assert 'nox -s "migrations(${{ matrix.image }})"' in text
    assert 'invoke image.build --image "${{ matrix.image }}"' in text
    # One aggregate job to require, failing when any cell failed or was skipped.
    assert "needs: cell\n    if: always()" in text
    assert 'test "${{ needs.cell.result }}" = success' in text


def test_ci_runs_the_remote_engine_tests_and_always_stops_the_engine() -> None:
    text = (PROJECT_ROOT / ".ci" / "run").read_text()
    step = text[text.index("tests/remote against a second engine") :]
    assert 'eval "$(scripts/second-engine.sh start)"' in step
    assert "pytest -p no:cacheprovider tests/remote" in step
    # The stop runs on any exit of the subshell, the tests' failure included.
    assert step.index("trap 'scripts/second-engine.sh stop") < step.index("pytest")
