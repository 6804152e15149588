"""App Home: the user's recent triages with their verdicts, published when the tab opens."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import home as home_blocks
from bot.slack.services import Services

RECENT = 20


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])
        rows = services.store.recent(user=user, limit=RECENT)
        view = home_blocks.home_view(rows, workspace_url=services.workspace_url)
        await client.views_publish(user_id=user, view=view)
