"""The destructive-operation guard, with no database and no terminal."""

from __future__ import annotations

import pytest

from devdb.errors import DevDbError
from devdb.locality import Verdict
from devdb.safety import confirm_destructive
from devdb.settings import Settings

# Named databases (DATABASE_URL), so no Docker engine takes part in the verdict.
LOCAL = Settings(exact_target=True)
REMOTE = Settings(host="db.example.invalid", password="hunter2", exact_target=True)


def never_asked(question: str) -> bool:
    raise AssertionError(f"should not ask: {question}")


@pytest.mark.parametrize("yes", [True, False])
def test_remote_is_refused_without_force_even_with_yes(yes):
    with pytest.raises(DevDbError, match="not a local database") as caught:
        confirm_destructive(REMOTE, "drop it", yes=yes, force=False, ask=never_asked)
    assert "--force" in caught.value.tip
    assert "hunter2" not in caught.value.render()
    assert "***" in caught.value.message


def test_remote_with_force_and_yes_goes_ahead():
    confirm_destructive(REMOTE, "drop it", yes=True, force=True, ask=never_asked)


def test_remote_with_force_still_asks():
    asked: list[str] = []
    confirm_destructive(
        REMOTE,
        "drop it",
        yes=False,
        force=True,
        interactive=True,
        ask=lambda q: asked.append(q) or True,
    )
    assert asked and "db.example.invalid" in asked[0] and "hunter2" not in asked[0]


def test_local_with_yes_does_not_ask():
    confirm_destructive(LOCAL, "drop it", yes=True, force=False, ask=never_asked)


def test_no_terminal_and_no_yes_refuses_rather_than_hang():
    with pytest.raises(DevDbError, match="without confirmation") as caught:
        confirm_destructive(LOCAL, "drop it", yes=False, force=False, interactive=False)
    assert "--yes" in caught.value.tip


@pytest.mark.parametrize(("answer", "goes_ahead"), [(True, True), (False, False)])
def test_the_answer_decides(answer, goes_ahead):
    def run() -> None:
        confirm_destructive(
            LOCAL,
            "drop it",
            yes=False,
            force=False,
            interactive=True,
            ask=lambda _q: answer,
        )

    if goes_ahead:
        run()
    else:
        with pytest.raises(DevDbError, match="cancelled"):
            run()


def test_target_override_for_a_remote_docker_engine():
    """db.destroy guards the Docker engine, not the database URL."""
    with pytest.raises(DevDbError, match=r"tcp://10\.0\.0\.9:2375"):
        confirm_destructive(
            LOCAL,
            "delete it",
            yes=True,
            force=False,
            where="tcp://10.0.0.9:2375",
            verdict=Verdict(False, ()),
            kind="Docker engine",
        )
    confirm_destructive(
        LOCAL,
        "delete it",
        yes=True,
        force=True,
        where="tcp://10.0.0.9:2375",
        verdict=Verdict(False, ()),
    )
