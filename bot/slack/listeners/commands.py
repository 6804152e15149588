"""The ``/oos`` slash command: usage, monitoring routes, refusals, and triage.

Everything decided here is pure and instant (parsing, the SKU's shape, channel and user-id
rules), so refusals ride on the ack. A triage is acked first and then started in the
background: no vendor, store or Slack call happens before the ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack.blocks import common, notices
from bot.slack.blocks import monitoring as monitoring_blocks
from bot.slack.listeners import admitted, at_the_edge, ephemeral, tell
from bot.slack.runner import TriageRequest
from bot.slack.services import Services
from tools.sku import InvalidSku, unquote, validate_sku

COMMAND = "/oos"
_HELP_WORDS = {"", "help", "-h", "--help", "usage", "?"}


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Monitoring:
    name: str


@dataclass(frozen=True)
class Triage:
    sku: str


@dataclass(frozen=True)
class Malformed:
    reason: str


Parsed = Help | Monitoring | Triage | Malformed


def parse_command(text: str) -> Parsed:
    """What ``/oos <text>`` asks for."""
    words = text.strip().split()
    if not words or (len(words) == 1 and words[0].lower() in _HELP_WORDS):
        return Help()
    first = words[0].lower()
    if first in notices.MONITORING_COMMANDS:
        return Monitoring(first)
    body = text.strip()
    if first == "triage" and len(words) > 1:
        body, words = body[len(words[0]) :].strip(), words[1:]
    # Words separate SKUs here, so a SKU with spaces is quoted ("Café Crème #2"); people also
    # paste SKUs from code spans. Those marks are never part of a SKU.
    quoted = unquote(body)
    if quoted is None and len(words) > 1:
        return Malformed("give one SKU at a time")
    try:
        return Triage(validate_sku(quoted if quoted is not None else words[0]))
    except InvalidSku as exc:
        return Malformed(str(exc))


def malformed_message(text: str, reason: str) -> common.Message:
    shown, _ = common.clip(text.strip(), 80)
    return notices.refusal(
        f"“{common.esc(shown)}” is not a SKU I can look up: {reason}. Usage: `/oos SKU-1042` (or `/oos help`)."
    )


def register(app: AsyncApp, services: Services) -> None:
    async def quick_admit(ack: AsyncAck, command: dict[str, Any]) -> tuple[str, str] | None:
        """(user, channel) of the command, or None when the rules decided without Slack refuse
        it (the refusal rides on the ack)."""
        user, channel = str(command["user_id"]), str(command["channel_id"])
        refusal = services.access.quick_refusal(user, channel)
        if refusal is not None:
            await ack(**ephemeral(notices.refusal(refusal.reason)))
            return None
        return user, channel

    async def monitoring(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, name: str
    ) -> None:
        """``/oos drift | health | map``: acked at once, run in the background, posted in the
        channel (``bot.monitor.posts``)."""
        commands = services.monitoring
        if commands is None:
            await ack(**ephemeral(notices.monitoring_not_configured(name)))
            return
        asker = await quick_admit(ack, command)
        if asker is None:
            return
        user, channel = asker
        await ack(**ephemeral(monitoring_blocks.monitor_working(name)))

        async def on_error(message: common.Message) -> None:
            await tell(respond, message)

        async def admit() -> bool:
            return await admitted(services, respond, user, channel)

        commands.start(name, channel=channel, on_error=on_error, admitted=admit)

    @app.command(COMMAND)
    @at_the_edge("/oos")
    async def oos(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        text = str(command.get("text") or "")
        parsed = parse_command(text)
        if isinstance(parsed, Help):
            await ack(**ephemeral(notices.usage_message()))
            return
        if isinstance(parsed, Monitoring):
            await monitoring(ack, command, respond, parsed.name)
            return
        if isinstance(parsed, Malformed):
            await ack(**ephemeral(malformed_message(text, parsed.reason)))
            return
        asker = await quick_admit(ack, command)
        if asker is None:
            return
        user, channel = asker
        await ack()
        services.runner.start(
            TriageRequest(
                sku=parsed.sku, channel=channel, user=user, response_url=command.get("response_url")
            )
        )
