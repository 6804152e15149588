"""Grounding: every claim must cite what it rests on, and the citation must hold.

A claim may cite the report's fact ids (``storefront.out_of_stock_since``), its evidence items
(``E1``–``E6``), its check ids (``L3.flow_status``), the results of this run's tool calls
(``T1``, ``T2``…) and the fact ids those results carry. A claim that cites nothing is dropped;
one that cites an id nobody produced, or quotes words its sources do not contain, is marked
``grounded: false`` and kept out of every explanation a person reads.

Citing is not enough: a model that obeys text planted in vendor data can cite a real id. So
every claim's words are checked as well (``Guard``), and a claim is held back when it

* contradicts the rules verdict: names another cause code or puts the cause in another layer,
  or says "all clear", "in sync", "no ticket needed" while the rules found a gap or could not
  rule one out;
* says the bot took an action (it can only read);
* quotes instructions, the prompts, or a credential (a secret the redactor knows, or words
  such as "system prompt", "API key", "ignore previous instructions");
* carries a link, a mention or contact details (only the bot builds links);
* repeats a source's free text word for word as its own (``quote`` is for that).

The summary a person reads is built from the grounded claims (each with its ids), never taken
from the model's free text; the model's own summary is kept for audit only. Held-back text is
kept for audit (``AgentRun.held_back``, escaped, saved in the store) and reaches no message.

The agent's verdict is compared with the rules engine's. The rules verdict always stands; a
different reading becomes a ``disagreement`` — shown to a person as the labelled "Disagrees"
line with the model's stated reason when that reason passes the same checks, never preferred.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.agent.answer import FinalAnswer
from bot.agent.tools import ToolResult
from bot.outside_text import outside
from bot.report import AgentClaim, LayerId, Report
from bot.tree import Tree
from tools.redact import Redactor

_SPACE = re.compile(r"\s+")
_QUOTES = "\"'“”‘’`"
# The agent has no write tool, so a sentence saying it opened, closed or changed something is
# false by construction (typically an injection obeyed in words): it never reaches a person.
_ACTION = re.compile(
    r"\b(?:I|we)\s+(?:have\s+|'ve\s+|just\s+|already\s+)?(?:opened|created|filed|raised|"
    r"closed|resolved|escalated|deleted|updated|posted|submitted|assigned|changed|sent)\b"
    r"|\b(?:ticket|incident|case|triage|listing|verdict)s?\s+(?:[\w-]+\s+)?(?:(?:has|have)\s+"
    r"been\s+|was\s+|were\s+|is\s+(?:now\s+)?|are\s+(?:now\s+)?)?(?:marked\s+)?(?:opened|"
    r"created|filed|raised|closed|resolved|assigned|deleted|escalated)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def claims_an_action(text: str) -> bool:
    return _ACTION.search(text) is not None


_CAUSE_CODE = re.compile(r"\b(?:L[1-4]|hop)\.[a-z][a-z0-9_]*\b", re.IGNORECASE)
_ALL_CLEAR = re.compile(
    r"\ball[\s-]+clear\b|\bin[\s_-]+sync\b|\bno\s+tickets?\s+(?:is\s+|are\s+)?(?:needed|"
    r"required|necessary)|\bno\s+need\s+(?:for|to\s+open)\s+(?:a\s+)?ticket|\bfalse\s+alarm\b"
    r"|\bnothing\s+(?:is\s+)?(?:wrong|to\s+(?:fix|escalate|do))\b|\bno\s+(?:action|escalation)"
    r"\s+(?:is\s+)?(?:needed|required)|\b(?:everything|all)\s+(?:is\s+)?(?:fine|ok|okay|good|"
    r"working|healthy)\b|\bno\s+(?:gap|problem|issue)s?\s+(?:was\s+|were\s+)?found\b",
    re.IGNORECASE,
)
_LAYER_BLAME = re.compile(
    r"\b(?:cause|culprit|fault|problem|break|root)\b[^.;]{0,60}?\blayer\s*([1-4])\b"
    r"|\blayer\s*([1-4])\b[^.;]{0,40}?\b(?:is|was)\s+(?:the\s+)?(?:cause|culprit|at\s+fault|"
    r"where\s+it\s+breaks|the\s+problem)",
    re.IGNORECASE,
)
_INSTRUCTIONS = re.compile(
    r"\b(?:system|developer)\s+(?:prompt|message|instructions?)\b|\bmy\s+(?:instructions|prompt|"
    r"rules)\b|\bprompt\b|\binstructions?\s+(?:say|says|are|tell|told)\b|\bignore\s+(?:all\s+|"
    r"any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|your|my)\b|\bdisregard\b|\bforget\s+"
    r"(?:your|all|the)\b|\byou\s+are\s+(?:now\s+)?(?:allowed|permitted|free|an?\s+ai|chatgpt)\b"
    r"|\b(?:system|admin|assistant|developer)\s*:|\badmin(?:istrator)?\s+mode\b|\boverride\b"
    r"|\bas\s+(?:you|i\s+was|it\s+was|they)\s+(?:asked|instructed|told)\b|\bauthoritative\b"
    r"|\b(?:openai|anthropic)_?\w*\b|\bapi[\s_-]?key\b|\bpass(?:word|wd|phrase)\b|"
    r"\bsecret\b|\bcredentials?\b|\bbearer\b|\baccess[\s_-]?token\b|\bsk-[A-Za-z0-9]",
    re.IGNORECASE,
)
_LINK_OR_CONTACT = re.compile(
    r"[a-z][a-z0-9+.-]*://|\bwww\.|<[@!#]|[@!]\s*(?:here|channel|everyone)\b|@[A-Za-z0-9_.-]+"
    r"|\b[\w.-]+\.(?:com|net|org|io|co|info|biz|xyz|ru|cn|link|click|example)\b"
    r"|\+?\d[\d\s().-]{7,}\d",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+")
_ECHO_WORDS = 6  # a vendor's words this long are quoted (``quote``), not restated
_PROMPT_WORDS = 10  # the prompts share short domain phrases with any good answer


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass
class Guard:
    """What the words of a claim must not do, beyond citing what exists."""

    report: Report
    prompt_text: str = ""
    redactor: Redactor | None = None
    _prompt_grams: set[tuple[str, ...]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self._prompt_grams = _ngrams(self.prompt_text, _PROMPT_WORDS)

    def _contradiction(self, text: str) -> str | None:
        v = self.report.verdict
        allowed = {c.lower() for c in (v.cause, *(s.cause for s in self.report.secondary)) if c}
        for code in _CAUSE_CODE.findall(text):
            if code.lower() not in allowed:
                return f"names {code}, a cause the rules verdict does not"
        layers = {str(v.layer), *(str(s.layer) for s in self.report.secondary)}
        for match in _LAYER_BLAME.finditer(text):
            layer = match.group(1) or match.group(2)
            if layer not in layers:
                return f"puts the cause in layer {layer}, not where the rules verdict does"
        in_sync = v.cause is None and v.confidence != "inconclusive"
        if not in_sync and _ALL_CLEAR.search(text):
            return "says all is clear where the rules verdict found a gap or could not rule one out"
        return None

    def problem(
        self, text: str, sources: Sources | None = None, *, verdict: bool = True
    ) -> str | None:
        """Why ``text`` may not be shown as the bot's words; None when it may. ``verdict``:
        also hold it back when it contradicts the rules verdict."""
        if claims_an_action(text):
            return "claims an action; the agent can only read"
        if verdict and (why := self._contradiction(text)) is not None:
            return f"contradicts the rules verdict: {why}"
        if _INSTRUCTIONS.search(text) or (self._prompt_grams & _ngrams(text, _PROMPT_WORDS)):
            return "quotes instructions, prompts or credentials"
        if self.redactor is not None and self.redactor.redact(text) != text:
            return "quotes instructions, prompts or credentials"
        if _LINK_OR_CONTACT.search(text):
            return "carries a link, a mention or contact details"
        if sources is not None and _ngrams(text, _ECHO_WORDS) & sources.vendor:
            return "repeats a vendor's words as its own (that is what a quote is for)"
        return None


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.strip(_QUOTES).lower()).strip()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class Sources:
    """Every citable id of a run and the text behind it (as the model saw it)."""

    texts: dict[str, str] = field(default_factory=dict)
    # The vendors' own free text among the facts (memos, messages, notes): what a planted
    # instruction would be, and what a claim may quote but not repeat as its own words.
    vendor: set[tuple[str, ...]] = field(default_factory=set)
    vendor4: set[tuple[str, ...]] = field(default_factory=set)

    def _vendor(self, value: Any) -> None:
        if isinstance(value, str):
            self.vendor |= _ngrams(value, _ECHO_WORDS)
            self.vendor4 |= _ngrams(value, 4)
        elif isinstance(value, dict):
            for v in value.values():
                self._vendor(v)
        elif isinstance(value, list):
            for v in value:
                self._vendor(v)

    def add(self, source_id: str, *parts: Any) -> None:
        joined = " ".join(_text(p) for p in parts)
        self.texts[source_id] = f"{self.texts.get(source_id, '')} {_norm(joined)}".strip()

    @classmethod
    def from_report(cls, report: Report) -> Sources:
        sources = cls()
        for fact in report.facts:
            sources.add(fact.id, fact.value, fact.source)
            sources._vendor(fact.value)
        for item in report.evidence:
            sources.add(item.id, item.title, item.statement, item.source)
        for check in report.checks:
            sources.add(check.id, check.asks, check.status, check.detail, check.cause or "")
        return sources

    def add_result(self, result: ToolResult) -> None:
        self.add(result.id, result.data)
        if result.tool.startswith("read_"):  # a vendor's record as read, not the bot's words
            self._vendor(result.data)
        for fact in _facts_in(result.data):
            self.add(fact["id"], fact.get("value"), fact.get("source", ""))
            self._vendor(fact.get("value"))

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
    summary: str | None
    claims: list[AgentClaim]
    problems: list[str]
    disagreement: str | None
    model_summary: str = ""

    @property
    def grounded_claims(self) -> list[AgentClaim]:
        return [c for c in self.claims if c.grounded]

    @property
    def held_back(self) -> int:
        return sum(1 for c in self.claims if not c.grounded)

    def audit(self) -> list[AgentClaim]:
        """What was held back, escaped, for the store: the claims and the model's summary."""
        held = [
            c.model_copy(update={"text": outside(c.text)}) for c in self.claims if not c.grounded
        ]
        if self.model_summary:
            held.append(
                AgentClaim(
                    text=outside(self.model_summary),
                    grounded=False,
                    problem="the model's summary: a person reads the cited claims instead",
                )
            )
        return held


def _claim(
    text: str, cites: list[str], quote: str | None, sources: Sources, guard: Guard
) -> AgentClaim:
    if (problem := guard.problem(text, sources)) is not None:
        return AgentClaim(text=text, cites=list(cites), grounded=False, problem=problem)
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


def summary_of(claims: list[AgentClaim]) -> str | None:
    """The summary a person reads: the grounded claims' own words (None when there is none)."""
    texts = [c.text.strip() for c in claims if c.grounded][:3]
    return " ".join(t if t.endswith((".", "!", "?")) else f"{t}." for t in texts) or None


def _reason(reason: str | None, guard: Guard, sources: Sources, grounded: bool) -> str:
    """The model's stated reason for disagreeing, when it may be shown."""
    if not reason or not reason.strip():
        return " It gave no reason."
    if not grounded:
        return " Its stated reason is held back: no grounded claim supports it."
    # A disagreement contradicts the verdict by nature; every other check still applies, and
    # a reason may not lean on a vendor's words at all (a planted note is where it would come
    # from).
    problem = guard.problem(reason, verdict=False)
    if problem is None and _ALL_CLEAR.search(reason):
        problem = "it says all is clear"
    if problem is None and _ngrams(reason, 4) & sources.vendor4:
        problem = "it repeats a vendor's words"
    if problem is not None:
        return f" Its stated reason is held back ({problem})."
    return f" Its stated reason: “{reason.strip()}”"


def ground(
    answer: FinalAnswer,
    sources: Sources,
    report: Report,
    tree: Tree,
    *,
    compare: bool = True,
    guard: Guard | None = None,
) -> Grounded:
    """Check every claim's citations and words; compare the verdict (``compare``: a triage,
    not a follow-up question)."""
    guard = guard or Guard(report)
    claims = [_claim(c.text, c.cites, c.quote, sources, guard) for c in answer.claims]
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
    differs = disagreement(report, cause, layer) if compare and answer.verdict else None
    if differs is not None and answer.verdict is not None:
        supported = any(c.grounded for c in claims)
        differs += _reason(answer.verdict.reason, guard, sources, supported)
        if not supported:
            differs += " No grounded claim supports the agent's reading."
    return Grounded(
        layer=layer,
        cause=cause,
        summary=summary_of(claims),
        claims=claims,
        problems=problems,
        disagreement=differs,
        model_summary=answer.summary,
    )
