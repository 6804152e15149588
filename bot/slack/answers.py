"""Deterministic answers to a question asked in a triage thread, from the saved report only.

A question is matched by keyword to the evidence items and checks that answer it ("what does
the webhook log say?" → E5 and the Layer 4 webhook checks). Explicit ids win: a check id, a
cause code, an evidence id or "layer 3". When nothing matches, the verdict is repeated with a
list of what can be asked. The agent will make this smarter; this stays the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.report import CheckResult, EvidenceItem, Report
from bot.tree import LAYER_NAMES

MAX_TOPICS = 3


@dataclass(frozen=True)
class Answer:
    """One topic of a reply: plain sentences (not yet escaped) and the ids they rest on."""

    topic: str
    lines: list[str]
    cites: list[str]


def _evidence(report: Report, *ids: str) -> list[EvidenceItem]:
    return [e for e in report.evidence if e.id in ids]


def _check_line(c: CheckResult) -> str:
    return f"{c.id} — {c.status}: {c.detail}"


def _evidence_answer(
    topic: str, items: list[EvidenceItem], checks: list[CheckResult] | None = None
) -> Answer:
    lines = [f"{e.id} · {e.title}: {e.statement} (source: {e.source})" for e in items]
    checks = checks or []
    lines += [_check_line(c) for c in checks]
    return Answer(topic, lines, [e.id for e in items] + [c.id for c in checks])


def _checks(report: Report, *, prefix: str = "", ids: tuple[str, ...] = ()) -> list[CheckResult]:
    return [c for c in report.checks if (prefix and c.id.startswith(prefix)) or c.id in ids]


def _why(report: Report) -> Answer:
    v = report.verdict
    lines = [v.says or "", v.summary]
    proving = [c for c in report.checks if c.id == v.check]
    lines += [f"Proved by {_check_line(c)}" for c in proving]
    return Answer("Why", [x for x in lines if x], [c.id for c in proving])


def _next_step(report: Report) -> Answer:
    v = report.verdict
    step = v.next_step or (
        "Nothing to fix: the surfaces agree."
        if v.confidence != "inconclusive"
        else "Restore access to the systems that could not be read, then re-run."
    )
    return Answer("Next step", [step], [v.check] if v.check else [])


def _owner(report: Report) -> Answer:
    e = report.escalation
    who = e.owner_name or "Nobody: there is nothing to escalate"
    lines = [f"{who}.", f"Escalation: {e.reason}."]
    if e.ticket:
        lines.append(f"Ticket: {e.ticket}")
    return Answer("Who owns it", lines, [])


def _confidence(report: Report) -> Answer:
    v = report.verdict
    proving = [c for c in report.checks if c.id == v.check]
    lines = [f"Confidence: {v.confidence}."]
    for c in proving:
        lines.append(f"{_check_line(c)} (facts: {', '.join(c.evidence) or 'none'})")
    return Answer(
        "How sure", lines, [c.id for c in proving] + [f for c in proving for f in c.evidence]
    )


def _unverified(report: Report) -> Answer:
    unknown = [c for c in report.checks if c.status == "unknown"]
    unread = [s for s in report.systems if not s.ok]
    lines = [f"{s.system} ({s.key}) could not be read: {s.error}" for s in unread]
    lines += [_check_line(c) for c in unknown]
    return Answer(
        "What could not be verified",
        lines or ["Every system was read and every check could be judged."],
        [c.id for c in unknown],
    )


def _secondary(report: Report) -> Answer:
    lines = [f"{s.cause} ({s.confidence}): {s.detail}" for s in report.secondary]
    return Answer(
        "Also failing", lines or ["No other cause fails."], [s.check for s in report.secondary]
    )


def _all_evidence(report: Report) -> Answer:
    return _evidence_answer("Evidence package", list(report.evidence))


_Rule = tuple[str, "re.Pattern[str]", Callable[[Report], Answer]]

# Order matters: the first rules are the most specific. A question may match several topics;
# the reply carries at most MAX_TOPICS of them.
_RULES: list[_Rule] = [
    (
        "webhook",
        re.compile(r"webhook|listener|\breceived?\b|\b4\d\d\b"),
        lambda r: _evidence_answer(
            "ERP webhook log", _evidence(r, "E5"), _checks(r, ids=("L4.webhook_log", "L4.listener"))
        ),
    ),
    (
        "connector",
        re.compile(
            r"connector|middleware|\bflows?\b|celigo|boomi|mulesoft|suspend|paused|integration"
        ),
        lambda r: _evidence_answer(
            "Middleware connector",
            _evidence(r, "E4"),
            [c for c in _checks(r, prefix="L3.") if c.status in ("fail", "unknown")],
        ),
    ),
    (
        "changes",
        re.compile(r"chang|credential|rotat|token|deploy|upgrade|72"),
        lambda r: _evidence_answer(
            "Recent changes", _evidence(r, "E6"), _checks(r, ids=("L3.recent_changes",))
        ),
    ),
    (
        "oos_time",
        re.compile(r"\bwhen\b|\btime|timestamp|\bsince\b|out of stock|\boos\b|storefront|shopify"),
        lambda r: _evidence_answer("Storefront out-of-stock time", _evidence(r, "E2")),
    ),
    (
        "erp",
        re.compile(
            r"\berp\b|netsuite|\bsap\b|business central|product name|\bitem\b|last update|inventory update"
        ),
        lambda r: _evidence_answer("ERP record", _evidence(r, "E1", "E3")),
    ),
    ("owner", re.compile(r"\bwho\b|owner|\bowns?\b|escalat|ticket|\bteam\b"), _owner),
    (
        "next",
        re.compile(r"next step|\bnext\b|\bfix|resolve|what should|what now|\bhow do\b"),
        _next_step,
    ),
    ("confidence", re.compile(r"\bsure\b|confiden|certain|\bproofs?\b|\bprove"), _confidence),
    (
        "unverified",
        re.compile(r"unknown|could not|couldn.t|unread|verif|timeout|timed out"),
        _unverified,
    ),
    ("secondary", re.compile(r"\bother\b|secondary|\belse\b|\balso\b"), _secondary),
    ("evidence", re.compile(r"evidence|package|\blogs?\b"), _all_evidence),
    ("why", re.compile(r"\bwhy\b|\bcause\b|what happened|verdict|summary|root"), _why),
]

_MENTION = re.compile(r"<[@!#][^>]*>")
_LAYER = re.compile(r"\blayer\s*([1-4])\b|\bL([1-4])\b(?!\.)")
_EVIDENCE_ID = re.compile(r"\bE([1-6])\b", re.IGNORECASE)


def _by_id(report: Report, question: str) -> list[Answer]:
    answers: list[Answer] = []
    lowered = question.lower()
    named = [
        c
        for c in report.checks
        if c.id.lower() in lowered or (c.cause and c.cause.lower() in lowered)
    ]
    if named:
        answers.append(
            Answer("Checks you named", [_check_line(c) for c in named], [c.id for c in named])
        )
    ids = sorted({f"E{m}" for m in _EVIDENCE_ID.findall(question)})
    if ids:
        answers.append(_evidence_answer("Evidence you named", _evidence(report, *ids)))
    for a, b in _LAYER.findall(question):
        layer = int(a or b)
        mine = [c for c in report.checks if c.layer == layer]
        shown = [c for c in mine if c.status in ("fail", "unknown")] or mine
        answers.append(
            Answer(LAYER_NAMES[layer], [_check_line(c) for c in shown], [c.id for c in shown])  # type: ignore[index]
        )
    return answers


def answer_question(report: Report, question: str) -> list[Answer]:
    """The answers to ``question`` (a mention's text) from ``report``; never empty."""
    text = _MENTION.sub(" ", question).strip()
    answers = _by_id(report, text)
    lowered = text.lower()
    for _name, pattern, build in _RULES:
        if len(answers) >= MAX_TOPICS:
            break
        if pattern.search(lowered):
            answers.append(build(report))
    if not answers:
        answers = [_why(report)]
    return answers[:MAX_TOPICS]
