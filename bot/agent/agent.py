"""The agent, as the rest of the bot sees it: ``explain`` a report, ``answer`` a question.

Both never raise and never change the rules engine's verdict. ``explain`` returns the report
with ``explanation`` (grounded claims only) and ``agent`` (the structured answer, any
disagreement, model, calls, tokens, estimated cost) — or, when the model could not help, the
same report with ``agent.status = "fallback"`` and one line saying why.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from openai import AsyncOpenAI

from bot.agent.budget import Meter
from bot.agent.catalog import ToolContext, build_tools
from bot.agent.grounding import Grounded, Guard, Sources, ground
from bot.agent.loop import Loop, LoopResult
from bot.agent.memory import Turn
from bot.agent.messages import Message, followup_messages, triage_messages
from bot.agent.prompts import Prompts, load_prompts
from bot.agent.tools import Toolbox
from bot.config import AgentConfig
from bot.privacy import Masker
from bot.report import AgentClaim, AgentRun, AgentUsage, Report
from bot.settings import Thresholds
from bot.tree import Tree, load_tree
from tools.clock import utc_now
from tools.protocols import Stack

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<[@!#][^>]*>")


@dataclass(frozen=True)
class ThreadAnswer:
    """The agent's reply to a thread question: grounded claims only, or why there is none."""

    status: str  # ok | budget_exhausted | fallback
    text: str | None
    claims: list[AgentClaim] = field(default_factory=list)
    reason: str | None = None
    usage: AgentUsage | None = None
    tools_refused: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.text is not None


@dataclass
class RunRecord:
    """What one run produced, for the caller and for tests (every tool result, refusals)."""

    result: LoopResult
    grounded: Grounded | None
    usage: AgentUsage
    toolbox: Toolbox


def explanation_text(grounded: Grounded) -> str | None:
    """The explanation a person reads: each grounded claim with its ids (None: there is none)."""
    parts = [
        f"({i}) {claim.text.strip()} [{', '.join(claim.cites)}]"
        for i, claim in enumerate(grounded.grounded_claims, 1)
    ]
    if not parts:
        return None
    if grounded.held_back:
        parts.append(f"({grounded.held_back} uncited, mis-cited or unsafe claim(s) held back.)")
    return " ".join(parts)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        client: AsyncOpenAI,
        *,
        prompts: Prompts | None = None,
        tree: Tree | None = None,
        masker: Masker | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.config = config
        self.thresholds = thresholds or Thresholds()
        self.client = client
        self.prompts = prompts or load_prompts()
        self.tree = tree or load_tree()
        self.masker = masker or Masker()
        self.last_run: RunRecord | None = None

    @property
    def model(self) -> str:
        return self.config.model

    async def aclose(self) -> None:
        await self.client.close()

    async def _run(
        self, messages: list[Message], ctx: ToolContext, report: Report, *, compare: bool
    ) -> RunRecord:
        meter = Meter(self.config)
        toolbox = Toolbox(
            build_tools(ctx), ctx, self.masker, meter, output_chars=self.config.tool_output_chars
        )
        result = await Loop(self.client, self.config, toolbox, meter, self.masker).run(messages)
        grounded = None
        if result.answer is not None:
            sources = Sources.from_report(report)
            for tool_result in toolbox.results.values():
                sources.add_result(tool_result)
            guard = Guard(
                report,
                prompt_text=self.prompts.for_followup(self.tree),
                redactor=self.masker.redactor,
            )
            grounded = ground(
                result.answer, sources, report, self.tree, compare=compare, guard=guard
            )
        record = RunRecord(result, grounded, meter.usage(self.config.model), toolbox)
        self.last_run = record
        return record

    def _context(
        self, report: Report, stack: Stack | None, now: datetime | None, thresholds: Thresholds
    ) -> ToolContext:
        return ToolContext(
            report=report,
            stack=stack,
            tree=self.tree,
            now=now or utc_now(),
            thresholds=thresholds,
        )

    def _masked_claims(self, claims: Sequence[AgentClaim]) -> list[AgentClaim]:
        return [c.model_copy(update={"text": self.masker.mask(c.text)}) for c in claims]

    async def explain(
        self,
        report: Report,
        stack: Stack | None,
        *,
        now: datetime | None = None,
        thresholds: Thresholds | None = None,
    ) -> Report:
        """``report`` with the agent's explanation added; the verdict is never touched."""
        try:
            return await self._explain(report, stack, now, thresholds or self.thresholds)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("the agent failed on %s (ref %s)", report.sku, ref)
            run = AgentRun(status="fallback", reason=f"the agent failed (reference {ref})")
            return report.model_copy(update={"agent": run, "explanation": None})

    async def _explain(
        self, report: Report, stack: Stack | None, now: datetime | None, thresholds: Thresholds
    ) -> Report:
        ctx = self._context(report, stack, now, thresholds)
        messages = triage_messages(self.prompts, self.tree, report, self.masker)
        record = await self._run(messages, ctx, report, compare=True)
        result, grounded = record.result, record.grounded
        if grounded is None:
            status = "fallback" if result.failed else "budget_exhausted"
            run = AgentRun(
                status=status, reason=result.failed or result.stopped, usage=record.usage
            )
            return report.model_copy(update={"agent": run, "explanation": None})
        summary = grounded.summary
        reason = result.stopped
        if summary is None and reason is None:
            reason = "no claim of the agent's answer could be grounded in the evidence"
        run = AgentRun(
            status="budget_exhausted" if result.stopped else "ok",
            reason=reason,
            layer=grounded.layer,
            cause=grounded.cause,
            summary=None if summary is None else self.masker.mask(summary),
            claims=self._masked_claims(grounded.grounded_claims),
            disagreement=grounded.disagreement,
            usage=record.usage,
            held_back_count=grounded.held_back,
            held_back=self._masked_claims(grounded.audit()),
        )
        text = explanation_text(grounded)
        explanation = None if text is None else self.masker.mask(text)
        return report.model_copy(update={"agent": run, "explanation": explanation})

    async def answer(
        self,
        question: str,
        report: Report,
        stack: Stack | None,
        turns: Sequence[Turn] = (),
        *,
        now: datetime | None = None,
    ) -> ThreadAnswer:
        """An answer to ``question`` from the saved report, the thread's memory and, when
        needed, fresh tool calls."""
        try:
            return await self._answer(question, report, stack, turns, now)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("the agent failed on a question about %s (ref %s)", report.sku, ref)
            return ThreadAnswer("fallback", None, reason=f"the agent failed (reference {ref})")

    async def _answer(
        self,
        question: str,
        report: Report,
        stack: Stack | None,
        turns: Sequence[Turn],
        now: datetime | None,
    ) -> ThreadAnswer:
        ctx = self._context(report, stack, now, self.thresholds)
        text = _MENTION.sub(" ", question).strip()
        messages = followup_messages(self.prompts, self.tree, report, turns, text, self.masker)
        record = await self._run(messages, ctx, report, compare=False)
        result, grounded = record.result, record.grounded
        refused = list(record.toolbox.refused)
        if grounded is None:
            return ThreadAnswer(
                "fallback" if result.failed else "budget_exhausted",
                None,
                reason=result.failed or result.stopped,
                usage=record.usage,
                tools_refused=refused,
            )
        if grounded.summary is None:
            return ThreadAnswer(
                "fallback",
                None,
                reason="no claim of the agent's answer could be grounded in the evidence",
                usage=record.usage,
                tools_refused=refused,
            )
        return ThreadAnswer(
            "budget_exhausted" if result.stopped else "ok",
            self.masker.mask(grounded.summary),
            claims=self._masked_claims(grounded.grounded_claims),
            reason=result.stopped,
            usage=record.usage,
            tools_refused=refused,
        )
