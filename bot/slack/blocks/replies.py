"""Replies to mentions in a triage thread: from the saved report or from the LLM agent."""

from __future__ import annotations

from collections.abc import Sequence

from bot.report import AgentClaim
from bot.slack.answers import Answer
from bot.slack.blocks.common import Blocks, Message, esc, plain
from bot.slack.blocks.notices import notice
from bot.slack.blocks.verdict import cited


def mention_reply(sku: str, answers: Sequence[Answer], *, note: str | None = None) -> Message:
    """The reply to a question in a triage thread, built from the saved report only. ``note``
    says why the agent did not answer (when it is on but could not)."""
    b = Blocks()
    for answer in answers[:10]:
        body = "\n".join(esc(line) for line in answer.lines)
        cites = f"\n_from {', '.join(f'`{c}`' for c in answer.cites[:20])}_" if answer.cites else ""
        b.section(f"*{esc(answer.topic)}*\n{body}{cites}")
    if note:
        b.context(f":information_source: {esc(note)}")
    b.context(
        f"Answered from the saved report for {esc(sku)}. Ask about the evidence, the webhook log, "
        "the connector, recent changes, the owner, the next step, a layer, or a check id."
    )
    first = answers[0] if answers else None
    text = f"{first.topic}: {' '.join(first.lines)}" if first else f"About {sku}"
    return b.done(plain(text))


def agent_reply(
    sku: str,
    text: str,
    claims: Sequence[AgentClaim],
    *,
    model: str,
    tool_calls: int = 0,
    partial: str | None = None,
) -> Message:
    """The agent's answer to a thread question: its grounded claims, each with the ids it cites."""
    b = Blocks()
    grounded = [f"• {esc(c.text)}{cited(c.cites)}" for c in claims[:8] if c.grounded]
    b.section("\n".join(grounded or [esc(text)]))
    fresh = f" and {tool_calls} fresh tool call(s)" if tool_calls else ""
    cut = f" Partial: {esc(partial)}." if partial else ""
    b.context(
        f":robot_face: Answered by the LLM agent ({esc(model)}) from the saved report for "
        f"{esc(sku)}, this thread's earlier questions{fresh}. Every point cites its evidence.{cut}"
    )
    return b.done(plain(text))


def not_a_triage_thread() -> Message:
    return notice(
        "I answer questions inside a triage thread. Start one with `/oos SKU-1042`, then mention "
        "me in its thread."
    )
