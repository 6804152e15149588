"""Grounding: every claim must cite what it rests on, and the citation must hold.

A claim may cite the report's fact ids (``storefront.out_of_stock_since``), its evidence items
(``E1``–``E6``), its check ids (``L3.flow_status``), the results of this run's tool calls
(``T1``, ``T2``…) and the fact ids those results carry. A claim that cites nothing is dropped;
one that cites an id nobody produced, or quotes words its sources do not contain, is marked
``grounded: false`` and kept out of every explanation a person reads.

The agent's verdict is compared with the rules engine's. The rules verdict always stands; a
different reading becomes a ``disagreement`` — shown to a person, never preferred.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.agent.answer import FinalAnswer
from bot.agent.tools import ToolResult
from bot.report import AgentClaim, LayerId, Report
from bot.tree import Tree

_SPACE = re.compile(r"\s+")
_QUOTES = "\"'“”‘’`"
# The agent has no write tool, so a sentence saying it opened, closed or changed something is
# false by construction (typically an injection obeyed in words): it never reaches a person.
_ACTION = re.compile(
    r"\b(?:I|we)\s+(?:have\s+|'ve\s+|just\s+|already\s+)?(?:opened|created|filed|raised|"
    r"closed|resolved|escalated|deleted|updated|posted|submitted|assigned|changed|sent)\b"
    r"|\b(?:ticket|incident|case)\s+(?:[\w-]+\s+)?(?:(?:has|have)\s+been\s+|was\s+|is\s+now\s+)?"
    r"(?:opened|created|filed|raised|closed|resolved)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def claims_an_action(text: str) -> bool:
    return _ACTION.search(text) is not None


def without_action_claims(text: str) -> tuple[str, int]:
    """``text`` without its sentences that claim an action; how many were removed."""
    sentences = _SENTENCE.split(text.strip())
    kept = [s for s in sentences if not claims_an_action(s)]
    return " ".join(kept), len(sentences) - len(kept)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.strip(_QUOTES).lower()).strip()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class Sources:
    """Every citable id of a run and the text behind it (as the model saw it)."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, source_id: str, *parts: Any) -> None:
        joined = " ".join(_text(p) for p in parts)
        self.texts[source_id] = f"{self.texts.get(source_id, '')} {_norm(joined)}".strip()

    @classmethod
    def from_report(cls, report: Report) -> Sources:
        sources = cls()
        for fact in report.facts:
            sources.add(fact.id, fact.value, fact.source)
        for item in report.evidence:
            sources.add(item.id, item.title, item.statement, item.source)
        for check in report.checks:
            sources.add(check.id, check.asks, check.status, check.detail, check.cause or "")
        return sources

    def add_result(self, result: ToolResult) -> None:
        self.add(result.id, result.data)
        for fact in _facts_in(result.data):
            self.add(fact["id"], fact.get("value"), fact.get("source", ""))

    def resolve(self, cite: str) -> str | None:
        """The canonical id a citation names, or None when nothing by that id exists."""
        wanted = cite.strip().strip("[]()`").strip()
        if wanted in self.texts:
            return wanted
        upper = wanted.upper()  # "e4", "t2"
        return upper if upper in self.texts else None


def _facts_in(data: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if isinstance(data.get("id"), str) and "value" in data and "source" in data:
            found.append(data)
        for v in data.values():
            found += _facts_in(v)
    elif isinstance(data, list):
        for v in data:
            found += _facts_in(v)
    return found


@dataclass(frozen=True)
class Grounded:
    """The answer after grounding: what a person may read, and what was held back."""

    layer: LayerId | None
    cause: str | None
    summary: str
    claims: list[AgentClaim]
    problems: list[str]
    disagreement: str | None

    @property
    def grounded_claims(self) -> list[AgentClaim]:
        return [c for c in self.claims if c.grounded]

    @property
    def held_back(self) -> int:
        return sum(1 for c in self.claims if not c.grounded)


def _claim(text: str, cites: list[str], quote: str | None, sources: Sources) -> AgentClaim:
    if claims_an_action(text):
        return AgentClaim(
            text=text,
            cites=list(cites),
            grounded=False,
            problem="claims an action; the agent can only read",
        )
    if not cites:
        return AgentClaim(text=text, cites=[], grounded=False, problem="cites nothing")
    resolved = [sources.resolve(c) for c in cites]
    unknown = [c for c, r in zip(cites, resolved, strict=True) if r is None]
    known = [r for r in resolved if r is not None]
    if unknown:
        return AgentClaim(
            text=text,
            cites=list(cites),
            grounded=False,
            problem=f"cites {', '.join(unknown[:3])}, which no source has",
        )
    if quote and _norm(quote) not in " ".join(sources.texts[r] for r in known):
        return AgentClaim(
            text=text,
            cites=known,
            grounded=False,
            problem=f"the quote is not in {', '.join(known)}",
        )
    return AgentClaim(text=text, cites=known, grounded=True)


def _layer(value: int | str | None) -> LayerId | None:
    """The layer the model named (no cause: e.g. which layer could not be verified)."""
    text = str(value).strip().lower().removeprefix("layer").strip() if value is not None else ""
    layers: dict[str, LayerId] = {"1": 1, "2": 2, "3": 3, "4": 4, "hop": "hop"}
    return layers.get(text)


def _layer_words(layer: LayerId | None) -> str:
    return "a hop between systems" if layer == "hop" else f"layer {layer}"


def disagreement(report: Report, cause: str | None, layer: LayerId | None) -> str | None:
    """In words, how the agent's reading differs from the rules verdict; None when it agrees."""
    rules = report.verdict
    if cause == rules.cause:
        return None
    also = {s.cause for s in report.secondary}
    if cause is not None and rules.cause is not None:
        secondary = " (the report lists it as a secondary cause)" if cause in also else ""
        return (
            f"The agent reads this as {cause} ({_layer_words(layer)}){secondary}, not "
            f"{rules.cause}. The rules engine's verdict stands; a person should compare the "
            "cited evidence."
        )
    if cause is not None:
        found = "no gap" if rules.confidence != "inconclusive" else "no proven cause"
        return (
            f"The agent reads this as {cause} ({_layer_words(layer)}) where the rules engine "
            f"found {found}. The verdict stays the rules engine's; a person should check the "
            "cited evidence."
        )
    return (
        f"The agent names no cause where the rules engine proved {rules.cause}. The rules "
        "engine's verdict stands."
    )


def ground(
    answer: FinalAnswer, sources: Sources, report: Report, tree: Tree, *, compare: bool = True
) -> Grounded:
    """Check every claim's citations; compare the verdict (``compare``: a triage, not a
    follow-up question)."""
    claims = [_claim(c.text, c.cites, c.quote, sources) for c in answer.claims]
    problems = [f"claim {i + 1}: {c.problem}" for i, c in enumerate(claims) if c.problem]
    cause = answer.verdict.cause if answer.verdict else None
    layer: LayerId | None = None
    if cause is not None and cause not in tree.causes:
        problems.append(f"the agent named {cause!r}, which is not a cause code; ignored")
        cause = None
    if cause is not None:
        layer = tree.causes[cause].layer  # the code decides; a contradicting layer is ignored
    elif answer.verdict is not None:
        layer = _layer(answer.verdict.layer)
    summary, removed = without_action_claims(answer.summary)
    if removed:
        problems.append(f"{removed} sentence(s) of the summary claimed an action; removed")
    differs = disagreement(report, cause, layer) if compare and answer.verdict else None
    if differs and not any(c.grounded for c in claims):
        differs += " No grounded claim supports the agent's reading."
    return Grounded(
        layer=layer,
        cause=cause,
        summary=summary or "(The agent's summary claimed actions it cannot take; removed.)",
        claims=claims,
        problems=problems,
        disagreement=differs,
    )
