"""Answers to a question asked in a triage thread: the agent when it is on, the rules otherwise.

The agent answers from the saved report, the thread's memory (``bot.agent.memory``: the bot's
own record of earlier questions, so Slack's history is never re-read) and fresh tool calls
when the question needs them. When it is off or cannot answer, the deterministic answer of
``bot.slack.answers`` is given instead, with one line saying why. Every turn is remembered,
masked, whoever answered it.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from bot.compose import Target
from bot.privacy import Masker
from bot.report import Report
from bot.slack.answers import answer_question
from bot.slack.blocks import common, replies
from bot.slack.services import Services

log = logging.getLogger(__name__)


def _target(services: Services, sku: str) -> Target | None:
    try:
        return services.runner.resolve(sku)
    except Exception:  # the stack is gone (e.g. a sandbox SKU no longer served): report only
        log.info("no stack for %s: the agent answers from the saved report only", sku)
        return None


def _remember(
    services: Services,
    row: dict[str, Any],
    channel: str,
    thread_ts: str,
    question: str,
    answer: str,
    source: str,
    cites: list[str],
    **usage: Any,
) -> None:
    if services.memory is None:
        return
    mask = Masker().mask  # the environment's secrets as they are now
    try:
        services.memory.add(
            channel,
            thread_ts,
            question=mask(question)[:2_000],
            answer=mask(answer)[:4_000],
            source=source,
            cites=cites,
            triage_id=str(row.get("id") or ""),
            **usage,
        )
    except sqlite3.Error:  # a lost memory must not cost the user the answer
        log.exception("could not remember a thread turn in %s", channel)


async def answer_mention(
    services: Services,
    row: dict[str, Any],
    report: Report,
    question: str,
    *,
    channel: str,
    thread_ts: str,
) -> common.Message:
    note = None
    agent = services.agent
    if agent is not None:
        turns = services.memory.turns(channel, thread_ts) if services.memory else []
        target = _target(services, report.sku)
        try:
            reply = await agent.answer(
                question,
                report,
                target.stack if target else None,
                turns,
                now=target.clock if target else None,
            )
        finally:
            if target is not None:
                await target.aclose()
        if reply.text is not None:
            cites = sorted({c for claim in reply.claims for c in claim.cites})
            usage = reply.usage
            _remember(
                services,
                row,
                channel,
                thread_ts,
                question,
                reply.text,
                "agent",
                cites,
                model=agent.model,
                tokens=usage.total_tokens if usage else 0,
                cost_usd=usage.cost_usd if usage else 0.0,
            )
            return replies.agent_reply(
                report.sku,
                reply.text,
                reply.claims,
                model=agent.model,
                tool_calls=usage.tool_calls if usage else 0,
                partial=reply.reason,
            )
        note = f"The agent could not answer ({reply.reason}); this is what the saved report says."
    answers = answer_question(report, question)
    _remember(
        services,
        row,
        channel,
        thread_ts,
        question,
        " ".join(line for a in answers for line in a.lines),
        "rules",
        [c for a in answers for c in a.cites],
    )
    return replies.mention_reply(report.sku, answers, note=note)
