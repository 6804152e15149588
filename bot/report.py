"""The triage report: what the CLI prints, Slack renders, the store saves and tickets carry.

Field names follow DESIGN §5 and are a public contract (``oos triage --json``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from bot.facts import FactRef

CheckStatus = Literal["pass", "fail", "unknown", "skipped"]
Confidence = Literal["confirmed", "likely", "inconclusive"]
LayerId = Literal[1, 2, 3, 4, "hop"]


class CheckResult(BaseModel):
    layer: LayerId
    id: str
    asks: str
    status: CheckStatus
    detail: str
    evidence: list[str] = Field(description="ids of the facts this check rests on")
    cause: str | None = Field(None, description="the cause code this check proves, when it fails")
    confidence: Literal["confirmed", "likely"] | None = None
    assumed: bool = Field(
        False,
        description="the failure rests on an assumption about the stack's shape, not on "
        "evidence: it never outranks an evidenced cause",
    )


class Verdict(BaseModel):
    layer: LayerId | None
    cause: str | None
    confidence: Confidence
    summary: str
    says: str | None = Field(None, description="the cause in plain words")
    next_step: str | None = None
    check: str | None = Field(None, description="the check that proves it")


class SecondaryCause(BaseModel):
    cause: str
    layer: LayerId
    check: str
    detail: str
    confidence: Literal["confirmed", "likely"]


class EvidenceItem(BaseModel):
    id: str
    title: str
    statement: str
    found: bool = Field(description="false where the absence is itself the evidence")
    source: str
    read_at: datetime | None
    facts: list[str] = []


class Escalation(BaseModel):
    owner: str | None
    owner_name: str | None
    auto_escalate: bool
    reason: str
    ticket: str | None = None


class SystemRead(BaseModel):
    key: str
    system: str
    ok: bool
    error: str | None = None
    error_kind: str | None = None
    seconds: float


class AgentClaim(BaseModel):
    """One sentence of the agent's answer and the ids it cites (facts, evidence, checks, tool
    results). ``grounded`` is false when a cited id is unknown or a quote is not in the source."""

    text: str
    cites: list[str] = []
    grounded: bool = True
    problem: str | None = None


class AgentUsage(BaseModel):
    model: str
    model_calls: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = Field(0.0, description="estimated from the configured prices per token")
    seconds: float = 0.0


class AgentRun(BaseModel):
    """What the LLM agent added. It never changes the verdict: a different reading is a
    ``disagreement`` for a person to look at."""

    status: Literal["ok", "budget_exhausted", "fallback"]
    reason: str | None = Field(None, description="why the explanation is missing or partial")
    layer: LayerId | None = None
    cause: str | None = None
    summary: str | None = None
    claims: list[AgentClaim] = []
    disagreement: str | None = None
    usage: AgentUsage | None = None
    held_back_count: int = Field(0, description="claims held back (uncited, mis-cited, unsafe)")
    # Held-back text, escaped: saved in the store for audit (``Report.stored_json``), left out
    # of every other dump (the --json output, the evidence file, the ticket attachment).
    held_back: list[AgentClaim] = Field(default_factory=list, exclude=True)


class Report(BaseModel):
    sku: str
    product: str | None = Field(None, description="the product name from the ERP record")
    pattern: str
    pattern_shows: str
    verdict: Verdict
    checks: list[CheckResult]
    evidence: list[EvidenceItem]
    escalation: Escalation
    secondary: list[SecondaryCause]
    facts: list[FactRef]
    systems: list[SystemRead]
    clock: datetime = Field(description="the moment every time-dependent check was judged by")
    started_at: datetime
    seconds: float
    explanation: str | None = None
    agent: AgentRun | None = Field(None, description="the LLM agent's answer, usage and cost")

    def stored_json(self) -> str:
        """The report as the store keeps it: the JSON, plus the agent's held-back text (escaped)
        for audit, which no other dump carries."""
        data = self.model_dump(mode="json")
        if self.agent is not None and self.agent.held_back:
            data["agent"]["held_back"] = [c.model_dump(mode="json") for c in self.agent.held_back]
        return json.dumps(data, ensure_ascii=False)
