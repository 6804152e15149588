"""The app manifest asks for what the app uses and nothing more."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.slack.manifest import manifest_text


def load(text: str | None = None) -> dict[str, Any]:
    data = yaml.safe_load(text or manifest_text())
    assert isinstance(data, dict)
    return data


def test_oos_manifest_points_every_url_at_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--url", "https://oos.example.com/"]) == 0
    m = load(capsys.readouterr().out)
    urls = [
        m["features"]["slash_commands"][0]["url"],
        m["settings"]["event_subscriptions"]["request_url"],
        m["settings"]["interactivity"]["request_url"],
    ]
    assert urls == ["https://oos.example.com/slack/events"] * 3
    assert m["settings"]["socket_mode_enabled"] is False


def test_oos_manifest_for_socket_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--socket-mode"]) == 0
    assert load(capsys.readouterr().out)["settings"]["socket_mode_enabled"] is True


def test_oos_manifest_refuses_an_address_that_is_not_https(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["manifest", "--url", "http://oos.example.com"])
    assert done.value.code == 2 and "not an https:// address" in capsys.readouterr().err


def test_least_privilege_bot_scopes() -> None:
    scopes = load()["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "no user scopes"
    assert sorted(scopes["bot"]) == sorted(
        ["commands", "chat:write", "files:write", "app_mentions:read", "usergroups:read"]
    )


def test_command_events_and_interactivity_point_at_the_one_endpoint() -> None:
    m = load()
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/oos"
    assert command["url"].endswith("/slack/events")
    settings = m["settings"]
    assert sorted(settings["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",
        "app_mention",
    ]
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert m["features"]["app_home"]["home_tab_enabled"] is True
