"""Tickets written for their reader: IT opens it and needs to ask nothing.

The description leads with the summary line (SKU, cause code, layer) and the verdict in plain
words, then the next step from the checklist, the six evidence items each with its source and
the time it was read, the checks that passed (what IT need not re-check), what could not be
verified, other failing causes, and a link back to the Slack thread. The full report goes along
as a JSON attachment.

Everything that leaves for the ticket system goes through ``Scrubber``: outside text made inert
for a ticket (``bot.outside_text``: no markup that renders HTML, a link or a mention), the values of secret
environment variables and credential shapes (``tools.redact``), e-mail addresses and phone
numbers are masked — vendor payloads can carry an admin's address in an audit entry, and a
ticket is read far more widely than the triage store.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from bot.outside_text import outside
from bot.report import CheckResult, EvidenceItem, Report
from bot.tickets.fingerprint import Fingerprint
from bot.tree import LAYER_NAMES
from tools.redact import Redactor
from tools.ticketing.base import (
    Attachment,
    Block,
    Bullets,
    Doc,
    Heading,
    Paragraph,
    Routing,
    Run,
    TicketDraft,
    para,
)

SUMMARY_LIMIT = 160
EMAIL_MASK = "[email removed]"
PHONE_MASK = "[phone removed]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# International numbers only (a leading +), or the North American (555) 123-4567 form: plain
# digit runs are quantities, ids and timestamps all over a report.
_PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]?\d{2,4}){1,4}\b"
    r"|\(\d{3}\)\s?\d{3}-\d{4}\b"
)


class Scrubber:
    """Masks secrets and personal data in text and in JSON values."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor if redactor is not None else Redactor.from_env()

    def masked(self, text: str) -> str:
        text = self.redactor.redact(text)
        text = _EMAIL.sub(EMAIL_MASK, text)
        return _PHONE.sub(PHONE_MASK, text)

    def text(self, text: str) -> str:
        """Text shown in the ticket: masked, and inert as ticket markup."""
        return outside(self.masked(text), "ticket")

    def value(self, value: Any) -> Any:
        """A JSON value for an attachment: masked, the data otherwise untouched."""
        if isinstance(value, str):
            return self.masked(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.masked(str(k)): self.value(v) for k, v in value.items()}
        return value

    def run(self, run: Run) -> Run:
        return replace(
            run, text=self.text(run.text), link=self.text(run.link) if run.link else None
        )

    def doc(self, doc: Doc) -> Doc:
        blocks: list[Block] = []
        for block in doc.blocks:
            if isinstance(block, Heading):
                blocks.append(Heading(self.text(block.text), block.level))
            elif isinstance(block, Paragraph):
                blocks.append(Paragraph(tuple(self.run(r) for r in block.runs)))
            else:
                blocks.append(
                    Bullets(tuple(tuple(self.run(r) for r in item) for item in block.items))
                )
        return Doc(tuple(blocks))


def layer_words(report: Report) -> str:
    layer = report.verdict.layer
    return "no layer" if layer is None else LAYER_NAMES[layer]


def summary_line(report: Report, fp: Fingerprint) -> str:
    """``SKU-4101 · L4.listener_inactive · Layer 4 · ERP trigger / webhook``, cut to fit."""
    where = f" @ {fp.location}" if fp.location else ""
    line = f"{report.sku}{where} · {fp.cause} · {layer_words(report)}"
    if report.verdict.says:
        line = f"{line} — {report.verdict.says}"
    line = " ".join(line.split())
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def _evidence(item: EvidenceItem) -> tuple[Run, ...]:
    read = item.read_at.isoformat() if item.read_at else "not read"
    absent = "" if item.found else " (absent: the absence is the evidence)"
    return (
        Run(f"{item.id} · {item.title}: ", bold=True),
        Run(f"{item.statement}{absent}"),
        Run(f" — source: {item.source}; read {read}"),
    )


def _check(check: CheckResult) -> tuple[Run, ...]:
    return (Run(check.id, code=True), Run(f" {check.asks} — {check.detail}"))


def _verdict_blocks(report: Report, fp: Fingerprint) -> list[Block]:
    v = report.verdict
    blocks: list[Block] = []
    opening: list[Run] = []
    summary = v.summary
    if v.says:
        opening.append(Run(v.says + " ", bold=True))
        if summary.startswith(v.says):  # the summary usually opens with the plain words
            summary = summary[len(v.says) :].strip()
    opening.append(Run(summary))
    blocks.append(Paragraph(tuple(opening)))
    facts: list[tuple[Run, ...]] = [
        (Run("Cause: "), Run(fp.cause, code=True)),
        (Run(f"Layer: {layer_words(report)}"),),
        (Run(f"Confidence: {v.confidence}"),),
        (Run("Pattern: "), Run(report.pattern, code=True), Run(f" — {report.pattern_shows}")),
        (Run(f"Owner: {report.escalation.owner_name or '—'} ({report.escalation.reason})"),),
    ]
    if fp.location:
        facts.insert(1, (Run(f"Location: {fp.location}"),))
    if v.check:
        facts.append((Run("Proved by: "), Run(v.check, code=True)))
    blocks.append(Bullets(tuple(facts)))
    return blocks


def _evidence_blocks(report: Report) -> list[Block]:
    blocks: list[Block] = [Heading("Evidence package")]
    blocks.append(Bullets(tuple(_evidence(item) for item in report.evidence)))
    return blocks


def _thread_blocks(thread_url: str | None, triage_id: str) -> list[Block]:
    if thread_url:
        return [
            Heading("Slack thread"),
            para(Run(thread_url, link=thread_url)),
        ]
    return [Heading("Slack thread"), para(f"none: triage {triage_id} ran outside Slack")]


def ticket_body(
    report: Report,
    fp: Fingerprint,
    *,
    triage_id: str,
    thread_url: str | None,
    recurrence_of: str | None = None,
) -> Doc:
    """The description of a new ticket."""
    blocks: list[Block] = []
    if recurrence_of:
        blocks.append(
            para(
                Run("Recurrence: ", bold=True),
                f"the same SKU and cause came back after {recurrence_of} was resolved.",
            )
        )
    blocks += _verdict_blocks(report, fp)
    if report.verdict.next_step:
        blocks += [Heading("Next step"), para(report.verdict.next_step)]
    blocks += _evidence_blocks(report)

    passed = [c for c in report.checks if c.status == "pass"]
    blocks.append(Heading("Checks that passed (no need to re-check)"))
    blocks.append(Bullets(tuple(_check(c) for c in passed)) if passed else para("No check passed."))
    unknown = [c for c in report.checks if c.status == "unknown"]
    if unknown:
        blocks += [Heading("Could not be verified"), Bullets(tuple(_check(c) for c in unknown))]
    if report.secondary:
        blocks.append(Heading("Also failing"))
        blocks.append(
            Bullets(
                tuple(
                    (Run(s.cause, code=True), Run(f" ({s.confidence}) — {s.detail}"))
                    for s in report.secondary
                )
            )
        )
    blocks += _thread_blocks(thread_url, triage_id)
    blocks.append(
        para(
            f"Triage {triage_id} · judged at {report.clock.isoformat()} · fingerprint ",
            Run(fp.value, code=True),
            " · the full report is attached as JSON.",
        )
    )
    return Doc(tuple(blocks))


def comment_body(
    report: Report, fp: Fingerprint, *, triage_id: str, thread_url: str | None, reopened: bool
) -> Doc:
    """A later triage's evidence, added to the ticket already open for the same SKU and cause."""
    head = (
        "The cause came back after this ticket was resolved: reopened with the new evidence."
        if reopened
        else "Triaged again: the same SKU and cause, still failing."
    )
    blocks: list[Block] = [
        para(Run(head, bold=True)),
        para(f"Triage {triage_id} at {report.clock.isoformat()} ({report.verdict.confidence}):"),
        para(report.verdict.summary),
    ]
    blocks += _evidence_blocks(report)
    blocks += _thread_blocks(thread_url, triage_id)
    return Doc(tuple(blocks))


def resolve_note(*, triage_id: str, thread_url: str | None) -> Doc:
    where = f" ({thread_url})" if thread_url else ""
    return Doc(
        (
            para(
                f"Marked resolved in Slack{where}. Triage {triage_id}. A recurrence of the same "
                "SKU and cause will reopen or link this ticket."
            ),
        )
    )


def report_attachment(report: Report, triage_id: str, scrubber: Scrubber) -> Attachment:
    data = scrubber.value(json.loads(report.model_dump_json()))
    name = f"oos-{re.sub(r'[^A-Za-z0-9._-]', '_', report.sku)}-{triage_id}.json"
    return Attachment(name, json.dumps(data, indent=2, ensure_ascii=False).encode())


def ticket_draft(
    report: Report,
    fp: Fingerprint,
    routing: Routing,
    *,
    triage_id: str,
    thread_url: str | None,
    scrubber: Scrubber,
    recurrence_of: str | None = None,
) -> TicketDraft:
    body = ticket_body(
        report, fp, triage_id=triage_id, thread_url=thread_url, recurrence_of=recurrence_of
    )
    return TicketDraft(
        summary=scrubber.text(summary_line(report, fp)),
        body=scrubber.doc(body),
        fingerprint=fp.value,
        routing=routing,
        labels=("oos-triage", f"oos-{fp.cause}"),
        attachments=(report_attachment(report, triage_id, scrubber),),
    )
