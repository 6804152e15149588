"""What the listeners share: settings, the Web API client, the store, access control, the runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.access import AccessControl
from bot.slack.poster import SlackPoster
from bot.slack.runner import TriageRunner
from bot.slack.settings import SlackSettings
from bot.store import TriageStore

if TYPE_CHECKING:
    from bot.agent.agent import Agent
    from bot.agent.memory import ThreadMemory
    from bot.monitor.posts import MonitorCommands
    from bot.slack.app import BotIdentity
    from bot.tickets.service import TicketService


@dataclass
class Services:
    settings: SlackSettings
    client: AsyncWebClient
    store: TriageStore
    access: AccessControl
    runner: TriageRunner
    identity: BotIdentity
    poster: SlackPoster  # every post in a thread: paced per channel, in order
    tickets: TicketService | None = None  # None: no [tickets] configured
    agent: Agent | None = None  # None: no OPENAI_API_KEY (mentions get the rules' answers)
    memory: ThreadMemory | None = None  # each triage thread's questions and answers
    monitoring: MonitorCommands | None = None  # None: /oos drift | health | map not configured

    @property
    def workspace_url(self) -> str | None:
        return self.identity.url
