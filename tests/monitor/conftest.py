"""Fixtures for the monitoring tests: the Slack scenario fixtures (the fake Web API, the real
endpoint) from ``tests/slack``, and a clock the tests set."""

from __future__ import annotations

from datetime import datetime

from tests.slack.conftest import fake_slack as fake_slack
from tests.slack.conftest import make_harness as make_harness


class Clock:
    """Now, as the test sets it (``clock.at = …``)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at
