"""The two files the Evidence file button uploads: the report as JSON and as Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.report import Report
from bot.slack.blocks.common import plain
from bot.slack.blocks.markdown import evidence_markdown


def evidence_json(report: Report) -> str:
    """The report exactly as ``oos triage --json`` prints it."""
    return report.model_dump_json(indent=2)


@dataclass
class EvidenceFiles:
    """The two files the Evidence file button uploads."""

    json_name: str
    json_text: str
    markdown_name: str
    markdown_text: str
    comment: str = field(default="")


def evidence_files(report: Report, triage_id: str) -> EvidenceFiles:
    stem = f"oos-{report.sku.replace('/', '_')}-{triage_id}"
    return EvidenceFiles(
        json_name=f"{stem}.json",
        json_text=evidence_json(report),
        markdown_name=f"{stem}.md",
        markdown_text=evidence_markdown(report, triage_id),
        comment=f"Evidence for {plain(report.sku)} (triage {triage_id}): the full report as JSON "
        "and Markdown.",
    )
