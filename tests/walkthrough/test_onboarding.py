"""A newcomer's first steps, end to end: onboarding on a clean clone of this project."""

from __future__ import annotations

import subprocess

from helpers import (
    revision_ids,
    run_invoke,
)

from devdb.settings import PROJECT_ROOT


def test_onboard_twice_on_a_clean_clone(docker_client, dev_env, tmp_path):
    """A clean clone ends with a migrated database; a second run changes nothing."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    script = clone / "scripts" / "onboard.sh"

    def onboard() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(script)],
            cwd=clone,
            env=dev_env,
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )

    first = onboard()
    output = first.stdout + first.stderr
    assert first.returncode == 0, output
    cloned = revision_ids(clone / "backend" / "alembic")
    assert f"applied {', '.join(cloned)}" in first.stderr
    assert "Changed:" in first.stdout
    # A checklist, not a log: no third-party notices, a line per step.
    assert "Warning" not in output and "!!" not in output, output
    assert len(output.splitlines()) <= 30, output
    second = onboard()
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert "Nothing changed" in second.stdout
    # Run again, a handful: the checklist and where to connect.
    assert len(output.splitlines()) <= 12, output
    assert "Connect:" in second.stdout
    status = run_invoke("db.status", "--check", env=dev_env, cwd=clone)
    assert status.returncode == 0, status.stdout + status.stderr
