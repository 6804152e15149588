"""Command parsing, settings from the environment, and the 429 retry handler."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack.app import RetryAfterHandler
from bot.slack.listeners.commands import Help, Malformed, Monitoring, Triage, parse_command
from bot.slack.settings import DEFAULT_API_URL, SettingsError, SlackSettings


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("drift", Monitoring("drift")),
        ("health", Monitoring("health")),
        ("map", Monitoring("map")),
        ("SKU-1042", Triage("SKU-1042")),
        ("  `SKU-1042`  ", Triage("SKU-1042")),
        ("triage SKU-1042", Triage("SKU-1042")),
        ("SKU-1 SKU-2", Malformed("give one SKU at a time")),
        ('"Café Crème #2"', Triage("Café Crème #2")),
        ("triage `T-SHIRT+LOGO`", Triage("T-SHIRT+LOGO")),
    ],
)
def test_parse_command(text: str, parsed: object) -> None:
    assert parse_command(text) == parsed


def test_a_malformed_sku_names_the_rule() -> None:
    parsed = parse_command("SKU<1>")
    assert isinstance(parsed, Malformed) and "letters and digits of any script" in parsed.reason


ENV = {"SLACK_BOT_TOKEN": "xoxb-secret-value", "SLACK_SIGNING_SECRET": "signing-secret-value"}


def test_settings_from_the_environment() -> None:
    env = {
        **ENV,
        "SLACK_API_URL": "http://127.0.0.1:9/api",
        "PORT": "8080",
        "OOS_ALLOWED_CHANNELS": "C1, C2",
        "OOS_ALLOWED_USERGROUPS": "S1 S2",
        "OOS_ACTION_USERS": "U9",
    }
    s = SlackSettings.from_env(env)
    assert s.api_url == "http://127.0.0.1:9/api/"
    assert s.port == 8080 and not s.socket_mode
    assert s.access.channels == {"C1", "C2"} and s.access.usergroups == {"S1", "S2"}
    assert s.access.action_users == {"U9"} and not s.access.users
    assert "secret-value" not in repr(s) and "secret-value" not in str(s)


def test_settings_defaults() -> None:
    s = SlackSettings.from_env(ENV)
    assert (s.api_url, s.port) == (DEFAULT_API_URL, 3000)


def test_socket_mode_needs_no_signing_secret() -> None:
    s = SlackSettings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert s.socket_mode


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({**ENV, "PORT": "eighty"}, "PORT"),
        ({**ENV, "SLACK_API_URL": "slack.example"}, "SLACK_API_URL"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-wrong"}, "xapp-"),
    ],
)
def test_bad_settings_name_the_variable_not_the_value(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        SlackSettings.from_env(env)
    assert says in str(caught.value)
    assert "secret-value" not in str(caught.value)


async def test_retry_after_is_waited_out_in_full_until_the_deadline() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    handler = RetryAfterHandler(deadline=200, sleep=sleep)
    state = RetryState()
    request = HttpRequest(
        method="POST", url="https://slack.test/api/chat.postMessage", headers={}, body_params={}
    )

    def limited(retry_after: str) -> HttpResponse:
        return HttpResponse(status_code=429, headers={"Retry-After": [retry_after]}, data=b"")

    async def attempt(response: HttpResponse) -> bool:
        kwargs: dict[str, Any] = {"state": state, "request": request, "response": response}
        if not await handler.can_retry_async(**kwargs):
            return False
        await handler.prepare_for_next_attempt_async(**kwargs)
        return True

    for _ in range(10):  # many more than a handful of tries, each as long as Slack says
        assert await attempt(limited("2"))
    assert await attempt(limited("120"))
    assert not await attempt(limited("61")), "20 + 120 + 61 s would pass the 200 s deadline"
    assert await attempt(limited("60")), "a wait that still fits is taken"
    assert len(waits) == 12
    assert all(2 <= w <= 2.25 for w in waits[:10]) and 120 <= waits[10] <= 120.25
    ok = HttpResponse(status_code=200, headers={}, data=b"")
    assert not await handler.can_retry_async(state=RetryState(), request=request, response=ok)
