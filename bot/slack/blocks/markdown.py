"""The whole triage report as a Markdown file: nothing cut, for tickets and people without Slack."""

from __future__ import annotations

import json

from bot.report import Report
from bot.slack.blocks.common import layer_name


def evidence_markdown(report: Report, triage_id: str | None = None) -> str:
    """The whole report as Markdown: nothing cut, for tickets and people without Slack."""
    v = report.verdict
    if v.cause:
        cause = f"`{v.cause}`"
    else:
        cause = "not proven (inconclusive)" if v.confidence == "inconclusive" else "none (in sync)"
    out: list[str | None] = [f"# Out-of-stock triage: {report.sku}", ""]
    if triage_id:
        out += [
            f"Triage `{triage_id}` · judged at {report.clock.isoformat()} · {report.seconds:.2f} s",
            "",
        ]
    out += [
        "## Verdict",
        "",
        f"- **Cause:** {cause}",
        f"- **In plain words:** {v.says}" if v.says else None,
        f"- **Layer:** {layer_name(v.layer)}",
        f"- **Confidence:** {v.confidence}",
        f"- **Pattern:** `{report.pattern}` — {report.pattern_shows}",
        f"- **Owner:** {report.escalation.owner_name or '—'} ({report.escalation.reason})",
        f"- **Next step:** {v.next_step}" if v.next_step else None,
        f"- **Proved by:** `{v.check}`" if v.check else None,
        "",
        v.summary,
        "",
        "## Evidence package",
        "",
    ]
    for item in report.evidence:
        read = item.read_at.isoformat() if item.read_at else "not read"
        found = "found" if item.found else "absent (the absence is the evidence)"
        out += [
            f"### {item.id} · {item.title}",
            "",
            item.statement,
            "",
            f"- Source: {item.source}",
            f"- Read at: {read}",
            f"- {found}",
            f"- Facts: {', '.join(f'`{f}`' for f in item.facts) or '—'}",
            "",
        ]
    out += [
        "## Checks",
        "",
        "| layer | check | status | detail | evidence |",
        "|---|---|---|---|---|",
    ]
    for c in report.checks:
        detail = c.detail.replace("|", "\\|").replace("\n", " ")
        out.append(f"| {c.layer} | `{c.id}` | {c.status} | {detail} | {', '.join(c.evidence)} |")
    out.append("")
    if report.secondary:
        out += ["## Also failing", ""]
        out += [
            f"- `{s.cause}` ({s.confidence}, {layer_name(s.layer)}, `{s.check}`): {s.detail}"
            for s in report.secondary
        ]
        out.append("")
    out += [
        "## Systems read",
        "",
        "| system | key | read | seconds | error |",
        "|---|---|---|---|---|",
    ]
    for r in report.systems:
        out.append(
            f"| {r.system} | {r.key} | {'yes' if r.ok else 'no'} | {r.seconds} | {r.error or ''} |"
        )
    out += ["", "## Facts", ""]
    for f in report.facts:
        value = json.dumps(f.value, default=str, ensure_ascii=False)
        out.append(f"- `{f.id}` = `{value}` — {f.source}, read {f.read_at.isoformat()}")
    out.append("")
    return "\n".join(line for line in out if line is not None)
