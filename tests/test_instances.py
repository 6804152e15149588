"""One machine, enforced on Fly: ``oos serve`` refuses to start beside another started machine
of the same app (their databases would each post and open tickets), and checks nothing
elsewhere."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bot.cli import main
from bot.instances import fly_machines, only_instance_problem


def answers(*addresses: str) -> Any:
    def resolve(host: str, *_args: Any) -> list[tuple[Any, ...]]:
        assert host == "oos-triage.internal"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, 0, 0, 0)) for a in addresses]

    return resolve


def no_answer(*_args: Any) -> list[tuple[Any, ...]]:
    raise socket.gaierror("no such host")


FLY = {"FLY_APP_NAME": "oos-triage"}


@pytest.mark.parametrize(
    ("environ", "resolve", "count"),
    [
        ({}, answers("fdaa::2", "fdaa::3"), None),  # not on Fly: nothing asked
        (FLY, no_answer, None),
        (FLY, answers("fdaa::2"), 1),
        (FLY, answers("fdaa::2", "fdaa::2"), 1),
        (FLY, answers("fdaa::2", "fdaa::3"), 2),
    ],
)
def test_started_machines_are_counted_on_fly_only(
    environ: dict[str, str], resolve: Any, count: int | None
) -> None:
    assert fly_machines(environ, resolve) == count


def test_serve_refuses_to_run_beside_another_machine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert only_instance_problem(FLY, answers("fdaa::2")) is None
    monkeypatch.setenv("FLY_APP_NAME", "oos-triage")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setattr(
        "bot.slack.server.only_instance_problem",
        lambda env: only_instance_problem(env, answers("fdaa::2", "fdaa::3")),
    )
    assert main(["serve", "--sandbox"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 machines of the Fly app oos-triage are running" in err
    assert "fly scale count 1 -a oos-triage" in err
