"""What the listeners share: settings, the Web API client, the store, access control, the runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.access import AccessControl
from bot.slack.runner import TriageRunner
from bot.slack.settings import SlackSettings
from bot.store import TriageStore

if TYPE_CHECKING:
    from bot.slack.app import BotIdentity


@dataclass
class Services:
    settings: SlackSettings
    client: AsyncWebClient
    store: TriageStore
    access: AccessControl
    runner: TriageRunner
    identity: BotIdentity

    @property
    def workspace_url(self) -> str | None:
        return self.identity.url
