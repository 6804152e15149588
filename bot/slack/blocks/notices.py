"""Short answers: usage, refusals, plain notices, monitoring not configured."""

from __future__ import annotations

from bot.slack.blocks.common import Blocks, Message

MONITORING_COMMANDS = ("drift", "health", "map")

USAGE = (
    "*`/oos SKU`* walks the four-layer checklist for one SKU — storefront feed → marketplace "
    "listing → middleware connector → ERP trigger — and posts a verdict with its cause code, "
    "the evidence package and who owns the fix, in a thread.\n\n"
    "• `/oos SKU-1042` — triage one SKU in this channel\n"
    "• `/oos help` — this message\n"
    "• `/oos drift` · `/oos health` · `/oos map` — monitoring (catalog drift, connector health, "
    "trigger-chain map)\n\n"
    "Mention me in a triage thread to ask about it (_“what does the webhook log say?”_, "
    "_“who owns this?”_). Your recent triages are on my Home tab."
)


def usage_message() -> Message:
    b = Blocks()
    b.section(USAGE)
    return b.done("Usage: /oos SKU — triage one SKU; /oos help; /oos drift | health | map")


def monitoring_not_configured(command: str) -> Message:
    text = (
        f":information_source: `/oos {command}` is part of monitoring, and monitoring is not "
        "configured yet on this server, so there is nothing to show. Triage works now: "
        "`/oos SKU-1042`."
    )
    b = Blocks()
    b.section(text)
    return b.done(f"/oos {command}: monitoring is not configured yet.")


def refusal(reason: str) -> Message:
    """An ephemeral refusal: says what was refused and what to do instead. ``reason`` is ours."""
    b = Blocks()
    b.section(f":no_entry: {reason}")
    return b.done(reason)


def notice(text: str) -> Message:
    b = Blocks()
    b.section(text)
    return b.done(text)
