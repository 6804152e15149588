"""The report as terminal text: verdict first, then the walk, then the evidence package."""

from __future__ import annotations

import textwrap

from bot.outside_text import outside
from bot.report import CheckResult, Report
from bot.tree import LAYER_NAMES, LAYER_ORDER, Layer

_MARK = {"pass": "pass   ", "fail": "FAIL   ", "unknown": "UNKNOWN", "skipped": "skipped"}
_WIDTH = 100


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    return textwrap.fill(text, _WIDTH, initial_indent=pad, subsequent_indent=pad)


def _field(label: str, text: str) -> str:
    body = textwrap.fill(text, _WIDTH, initial_indent=" " * 12, subsequent_indent=" " * 12)
    return f"{label:<11} {body[12:]}"


def _layer_label(layer: Layer | None) -> str:
    return "—" if layer is None else LAYER_NAMES[layer]


def _check_line(check: CheckResult) -> str:
    head = f"  {_MARK[check.status]}  {check.id:<22} {check.asks}"
    return head + "\n" + _wrap(check.detail, 13)


def render_text(report: Report) -> str:
    v = report.verdict
    lines = [f"{report.sku}" + (f" · {report.product}" if report.product else ""), ""]
    lines.append(_field("Pattern", f"{report.pattern_shows} ({report.pattern})"))
    if v.cause:
        lines.append(_field("Verdict", f"{_layer_label(v.layer)} — {v.cause} ({v.confidence})"))
    else:
        lines.append(
            _field(
                "Verdict",
                f"{'in sync' if v.confidence == 'confirmed' else 'INCONCLUSIVE'} ({v.confidence})",
            )
        )
    lines.append(_field("", v.summary))
    if v.next_step:
        lines.append(_field("Next step", v.next_step))
    esc = report.escalation
    if esc.owner_name:
        how = "opens a ticket automatically" if esc.auto_escalate else "ticket offered"
        lines.append(_field("Owner", f"{esc.owner_name} · {how}: {esc.reason}"))
    for s in report.secondary:
        lines.append(_field("Also", f"{s.cause} ({s.confidence}): {s.detail}"))
    if report.explanation:
        lines.append(_field("Explained", report.explanation))
    if report.agent and report.agent.disagreement:
        lines.append(_field("Disagrees", report.agent.disagreement))

    lines += ["", "Checks, in the order an operator works them"]
    for layer in LAYER_ORDER:
        checks = [c for c in report.checks if c.layer == layer]
        if checks:
            lines.append(f" {LAYER_NAMES[layer]}")
            lines += [_check_line(c) for c in checks]

    lines += ["", "Evidence package"]
    for item in report.evidence:
        read = item.read_at.strftime("%Y-%m-%d %H:%M UTC") if item.read_at else "not read"
        lines.append(f"  {item.id}  {item.title}")
        lines.append(_wrap(item.statement, 6))
        lines.append(_wrap(f"source: {item.source} · read {read}", 6))

    unread = [s for s in report.systems if not s.ok]
    if unread:
        lines += ["", "Systems that could not be read"]
        lines += [_wrap(f"{s.key}: {s.error}", 2) for s in unread]
    lines.append("")
    lines.append(f"Judged at {report.clock:%Y-%m-%d %H:%M UTC} · {report.seconds:.2f} s")
    # Vendor text can hold terminal control sequences: shown as data, never obeyed.
    return outside("\n".join(line.rstrip() for line in lines) + "\n", "terminal")
