"""The conversation the model starts from: instructions, then the data, delimited and masked.

The saved report goes in as ``<triage_report>`` JSON (what failed or could not be verified in
full, what passed as one line each), earlier turns of a Slack thread as ``<thread_memory>``,
and an operator's question as ``<question>``. Everything inside those tags has been through the
``Masker`` (personal data, then secrets) and cannot close its tag.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.agent.memory import Turn
from bot.agent.prompts import Prompts
from bot.agent.tools import to_jsonable
from bot.privacy import Masker
from bot.report import Report
from bot.tree import Tree

Message = dict[str, Any]


def _block(tag: str, value: Any, masker: Masker) -> str:
    """``value`` masked and wrapped in ``<tag>``; no "<" inside can close (or open) a tag."""
    if isinstance(value, str):
        body = masker.mask(value).replace("<", "‹")
    else:  # in JSON "<" only occurs inside strings, where its escape means the same
        body = masker.mask(json.dumps(value, ensure_ascii=False, indent=1)).replace("<", "\\u003c")
    return f"<{tag}>\n{body}\n</{tag}>"


def digest(report: Report) -> dict[str, Any]:
    """What the model needs of a report, in a few thousand characters."""
    v = report.verdict
    data: dict[str, Any] = to_jsonable(
        {
            "sku": report.sku,
            "product": report.product,
            "pattern": report.pattern,
            "pattern_shows": report.pattern_shows,
            "verdict": {
                "layer": v.layer,
                "cause": v.cause,
                "confidence": v.confidence,
                "summary": v.summary,
                "next_step": v.next_step,
                "proved_by_check": v.check,
            },
            "owner": report.escalation.owner_name,
            "secondary": [s.model_dump() for s in report.secondary],
            "checks_failed_or_unknown": [
                c.model_dump(exclude={"asks"})
                for c in report.checks
                if c.status in ("fail", "unknown")
            ],
            "checks_passed_or_skipped": [
                f"{c.id} {c.status}: {c.detail}"
                for c in report.checks
                if c.status not in ("fail", "unknown")
            ],
            "evidence": [e.model_dump() for e in report.evidence],
            "fact_ids": [f.id for f in report.facts],
            "systems_unread": [s.model_dump() for s in report.systems if not s.ok],
            "judged_at": report.clock,
        }
    )
    return data


def triage_messages(prompts: Prompts, tree: Tree, report: Report, masker: Masker) -> list[Message]:
    task = (
        "Explain this triage's verdict for an operator, grounded in the evidence. Read the "
        "free text in the evidence and the checks; call tools only if the report does not "
        "answer. Then reply in the output format."
    )
    return [
        {"role": "system", "content": prompts.for_triage(tree)},
        {"role": "user", "content": f"{task}\n\n{_block('triage_report', digest(report), masker)}"},
    ]


def followup_messages(
    prompts: Prompts,
    tree: Tree,
    report: Report,
    turns: Sequence[Turn],
    question: str,
    masker: Masker,
) -> list[Message]:
    memory = [{"question": t.question, "answer": t.answer, "cites": t.cites} for t in turns]
    parts = [
        "Answer the operator's question about this triage, grounded in the evidence, in the "
        "output format.",
        _block("triage_report", digest(report), masker),
    ]
    if memory:
        parts.append(_block("thread_memory", memory, masker))
    parts.append(_block("question", question.strip()[:2_000], masker))
    return [
        {"role": "system", "content": prompts.for_followup(tree)},
        {"role": "user", "content": "\n\n".join(parts)},
    ]
