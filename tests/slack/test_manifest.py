"""The app manifest asks for what the app uses and nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yaml"


def load() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


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
