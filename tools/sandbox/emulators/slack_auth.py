"""Slack's ``auth.test`` in-process, for ``oos check-config --sandbox``: ``POST
{SLACK_API_URL}auth.test`` with the sandbox bot token answers ``ok`` and the token's scopes in
the ``x-oauth-scopes`` header (comma-separated), as the Web API does; any other token
``invalid_auth``. Every other method is ``unknown_method``."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

SANDBOX_API_URL = "https://slack.sandbox.invalid/api/"
SANDBOX_BOT_TOKEN = "xoxb-oos-sandbox"


class SlackAuthEmulator(httpx.AsyncBaseTransport):
    def __init__(self, scopes: Sequence[str], token: str = SANDBOX_BOT_TOKEN) -> None:
        self.scopes = list(scopes)
        self.token = token

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/auth.test"):
            return httpx.Response(200, json={"ok": False, "error": "unknown_method"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(200, json={"ok": False, "error": "invalid_auth"})
        body = {
            "ok": True,
            "url": "https://oos-sandbox.slack.com/",
            "team": "OOS Sandbox",
            "user": "oos",
            "team_id": "T0SANDBOX",
            "user_id": "U0OOSBOT",
            "bot_id": "B0OOSBOT",
        }
        return httpx.Response(200, json=body, headers={"x-oauth-scopes": ",".join(self.scopes)})
