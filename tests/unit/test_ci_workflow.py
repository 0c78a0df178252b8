"""The CI workflow runs every default nox session in a job, and its required job
needs them all.

The workflow is expanded here as GitHub would expand it: the plan job's outputs
come from `nox -l --json | scripts/ci_cells.py --jobs`, and each job that runs nox
takes its sessions from one of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devdb.images import table as images
from devdb.settings import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
REQUIRED_JOB = "ci"
PLAN_OUTPUT = r"fromJSON\(needs\.plan\.outputs\.(\w+)\)"
# The two ways a job runs nox: one session per matrix job, or a plan output's
# sessions together in one job.
MATRIX_COMMAND = 'nox -s "${{ matrix.session }}"'
JOINED_COMMAND = re.compile(r"nox -s \$\{\{ join\(" + PLAN_OUTPUT + r", ' '\) \}\}")


def nox_sessions(noxfile: Path = PROJECT_ROOT / "noxfile.py") -> list[dict[str, Any]]:
    nox = Path(sys.executable).parent / "nox"
    listed = subprocess.run(
        [str(nox), "-f", str(noxfile), "-l", "--json"],
        cwd=noxfile.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(listed.stdout)


def plan(sessions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What the plan job writes to $GITHUB_OUTPUT, as GitHub reads it."""
    printed = subprocess.run(
        [sys.executable, "scripts/ci_cells.py", "--jobs"],
        cwd=PROJECT_ROOT,
        input=json.dumps(sessions),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    outputs = dict(line.split("=", 1) for line in printed.splitlines())
    return {key: json.loads(value) for key, value in outputs.items()}


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def jobs_running(sessions: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each nox session the workflow runs for ``sessions`` (a plan): its jobs."""
    ran: dict[str, list[str]] = {}
    for job_id, job in workflow()["jobs"].items():
        matrix = job.get("strategy", {}).get("matrix", {})
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if "nox -s" not in line:
                    continue
                if line.strip() == MATRIX_COMMAND:
                    key = re.fullmatch(
                        r"\$\{\{ " + PLAN_OUTPUT + r" \}\}", matrix["session"]
                    )
                    assert key, f"{job_id}'s matrix is not a plan output"
                    assert job["name"] == "${{ matrix.session }}", "named by session"
                    for session in sessions[key.group(1)]:
                        ran.setdefault(session, []).append(f"{job_id}: {session}")
                    continue
                joined = JOINED_COMMAND.search(line)
                assert joined, (
                    f"{job_id} runs nox in a way this test cannot read: {line}"
                )
                for session in sessions[joined.group(1)]:
                    ran.setdefault(session, []).append(job_id)
    return ran


def test_the_plan_job_passes_on_every_kind_of_job_the_script_names() -> None:
    job = workflow()["jobs"]["plan"]
    runs = {step.get("id"): step.get("run") for step in job["steps"]}
    assert runs["jobs"] == (
        'nox -l --json | python scripts/ci_cells.py --jobs | tee -a "$GITHUB_OUTPUT"'
    )
    kinds = plan(nox_sessions())
    assert job["outputs"] == {
        kind: f"${{{{ steps.jobs.outputs.{kind} }}}}" for kind in kinds
    }


def test_every_default_session_runs_in_exactly_one_job() -> None:
    listed = nox_sessions()
    ran = jobs_running(plan(listed))
    assert set(ran) == {session["session"] for session in listed}
    assert {session: jobs for session, jobs in ran.items() if len(jobs) != 1} == {}
    # The kinds the noxfile's tags give: nothing else shares a job with these.
    assert ran["tests"] == ran["lint"] == ran["typecheck"] == ["fast"]
    assert ran["images"] == ["offline-images"]
    assert ran["integration"] == ["session: integration"]


def test_every_image_row_is_a_migration_job_of_its_own() -> None:
    ran = jobs_running(plan(nox_sessions()))
    for spec in images.IMAGES:
        cell = f"migrations({spec.id})"
        assert ran[cell] == [f"session: {cell}"]


def test_a_row_added_to_the_image_table_adds_a_job(tmp_path: Path) -> None:
    """A copy of the noxfile and the library with one more row: one more job."""
    shutil.copy2(PROJECT_ROOT / "noxfile.py", tmp_path / "noxfile.py")
    shutil.copytree(
        PROJECT_ROOT / "devdb",
        tmp_path / "devdb",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    table = tmp_path / "devdb" / "images" / "table.py"
    table.write_text(
        table.read_text()
        + "\n\nIMAGES = (*IMAGES, ImageSpec(id='pg16-fixture', official='postgres:16',"
        " suite='bookworm', packages=('postgresql-16',), postgres_major=16,"
        " timescaledb=None, licence='none'))\n"
    )
    before = jobs_running(plan(nox_sessions()))
    after = jobs_running(plan(nox_sessions(tmp_path / "noxfile.py")))
    assert set(after) - set(before) == {"migrations(pg16-fixture)"}
    assert after["migrations(pg16-fixture)"] == ["session: migrations(pg16-fixture)"]


def test_the_cells_script_still_lists_every_image_row_once() -> None:
    cells = subprocess.run(
        [sys.executable, "scripts/ci_cells.py"],
        cwd=PROJECT_ROOT,
        input=json.dumps(nox_sessions()),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(cells.stdout) == [spec.id for spec in images.IMAGES]


def test_the_required_job_needs_every_other_job() -> None:
    jobs = workflow()["jobs"]
    required = jobs[REQUIRED_JOB]
    assert set(required["needs"]) == set(jobs) - {REQUIRED_JOB}
    # Runs even when a job it needs failed or was skipped: it must say so.
    assert required["if"] == "always()"


def required_check(needs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The required job's step, run with GitHub's `needs` context."""
    (step,) = workflow()["jobs"][REQUIRED_JOB]["steps"]
    assert step["env"]["NEEDS"] == "${{ toJSON(needs) }}"
    context = {job: {"result": result, "outputs": {}} for job, result in needs.items()}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={**os.environ, "NEEDS": json.dumps(context)},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("outcome", ["failure", "skipped", "cancelled"])
def test_the_required_job_fails_unless_every_job_succeeded(outcome: str) -> None:
    others = [job for job in workflow()["jobs"] if job != REQUIRED_JOB]
    passed = required_check(dict.fromkeys(others, "success"))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    for job in others:
        failed = required_check({**dict.fromkeys(others, "success"), job: outcome})
        assert failed.returncode != 0, job
        assert f"{job}: {outcome}" in failed.stdout


def test_ci_runs_the_remote_engine_tests_and_always_stops_the_engine() -> None:
    text = (PROJECT_ROOT / ".ci" / "run").read_text()
    step = text[text.index("tests/remote against a second engine") :]
    assert 'eval "$(scripts/second-engine.sh start)"' in step
    assert "pytest -p no:cacheprovider tests/remote" in step
    # The stop runs on any exit of the subshell, the tests' failure included.
    assert step.index("trap 'scripts/second-engine.sh stop") < step.index("pytest")
