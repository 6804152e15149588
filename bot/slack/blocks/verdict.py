"""The verdict message with its buttons, the agent's explanation, and ticket/resolution notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.agent.render import status_line
from bot.outside_text import group_mention, link, user_mention
from bot.report import CheckResult, EvidenceItem, Report
from bot.slack.blocks.common import (
    MORE_IN_FILE,
    STATUS_ICON,
    Block,
    Blocks,
    Message,
    Resolution,
    button,
    clip,
    esc,
    layer_counts,
    layer_icon,
    layer_name,
    mrkdwn,
    notable,
    plain,
    slack_date,
)
from bot.slack.blocks.notices import notice
from bot.tree import LAYER_ORDER

if TYPE_CHECKING:
    from bot.tickets.service import Outcome
    from tools.ticketing.base import Ticket


ACTION_RERUN = "oos_rerun"
ACTION_RESOLVE = "oos_resolve"
ACTION_EVIDENCE = "oos_evidence"
ACTION_TICKET = "oos_ticket"


def _evidence_lines(item: EvidenceItem, limit: int) -> tuple[str, bool]:
    icon = ":white_check_mark:" if item.found else ":heavy_minus_sign:"
    read = f" · read {slack_date(item.read_at)}" if item.read_at else ""
    statement, cut = clip(esc(item.statement), limit, MORE_IN_FILE)
    return f"{icon} *{item.id} · {esc(item.title)}*\n{statement}\n_{esc(item.source)}{read}_", cut


def _verdict_buttons(triage_id: str, *, resolved: bool) -> list[Block]:
    buttons = [button(":arrows_counterclockwise: Re-run", ACTION_RERUN, triage_id)]
    if not resolved:
        buttons.append(
            button(
                ":white_check_mark: Mark resolved",
                ACTION_RESOLVE,
                triage_id,
                style="primary",
                confirm={
                    "title": {"type": "plain_text", "text": "Mark resolved?"},
                    "text": mrkdwn("Everyone in the channel will see who resolved it."),
                    "confirm": {"type": "plain_text", "text": "Mark resolved"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            )
        )
    buttons.append(button(":page_facing_up: Evidence file", ACTION_EVIDENCE, triage_id))
    if not resolved:
        buttons.append(button(":ticket: Open ticket", ACTION_TICKET, triage_id))
    return buttons


def verdict_title(report: Report) -> str:
    v = report.verdict
    if v.cause:
        return f"{report.sku} · {v.cause}"
    return f"{report.sku} · {'inconclusive' if v.confidence == 'inconclusive' else 'in sync'}"


def verdict_text(report: Report) -> str:
    """The notification/fallback text: carries the cause code so Slack search finds it."""
    v = report.verdict
    sku = plain(report.sku)
    head = (
        f"{sku}: {v.cause} ({v.confidence})"
        if v.cause
        else f"{sku}: {v.confidence if v.confidence == 'inconclusive' else 'in sync'}"
    )
    return f"{head} — {plain(v.summary)}"


def verdict_message(
    report: Report,
    triage_id: str,
    *,
    resolution: Resolution | None = None,
    explaining: bool = False,
) -> Message:
    """The verdict: pattern, layer, cause in words with its code, confidence, owner, next step,
    the six-item evidence package, the checks that failed or could not be verified, buttons.
    ``explaining``: the LLM agent is still writing; the message says its explanation follows."""
    v = report.verdict
    b = Blocks()
    b.header(verdict_title(report))
    summary = v.summary
    if v.says and summary.startswith(v.says):  # the summary usually opens with the plain words
        summary = summary[len(v.says) :].strip()
    says = f"*{esc(v.says)}*\n" if v.says else ""
    b.section(f"{says}{esc(summary)}".strip() or esc(v.summary))
    owner = report.escalation.owner_name or "nobody: nothing to escalate"
    b.fields(
        [
            f"*Cause*\n`{v.cause}`"
            if v.cause
            else f"*Cause*\n{'not proven' if v.confidence == 'inconclusive' else 'none: in sync'}",
            f"*Confidence*\n{v.confidence}",
            f"*Layer*\n{layer_name(v.layer)}",
            f"*Owner*\n{esc(owner)}",
            f"*Pattern*\n`{report.pattern}` — {esc(report.pattern_shows)}",
        ],
    )
    if v.next_step:
        b.section(f":point_right: *Next step:* {esc(v.next_step)}")
    proof = f" · proved by `{v.check}`" if v.check else ""
    b.context(f"Escalation: {esc(report.escalation.reason)}{proof}")
    _agent_blocks(b, report)
    if explaining:
        b.context(
            ":hourglass_flowing_sand: _The LLM agent is writing its explanation; it will "
            "appear here when it is ready._"
        )

    b.divider()
    b.section("*Evidence package*")
    for item in report.evidence[:6]:
        text, cut = _evidence_lines(item, 1500)
        b.overflow |= cut
        b.section(text)
    if len(report.evidence) > 6:
        b.overflow = True
        b.context(f"{len(report.evidence) - 6} more evidence items are in the Evidence file.")

    b.divider()
    b.section(_checks_summary(report.checks))

    if report.secondary:
        lines = [
            f"• `{s.cause}` ({s.confidence}, {layer_name(s.layer)}) — {esc(s.detail)}"
            for s in report.secondary
        ]
        b.section("*Also failing*\n" + "\n".join(lines))
    unread = [s for s in report.systems if not s.ok]
    if unread:
        lines = [
            f"• *{esc(s.system)}* ({esc(s.key)}): {esc(s.error or 'could not be read')}"
            for s in unread
        ]
        b.section("*Could not be read*\n" + "\n".join(lines))

    tail = 0
    if resolution:
        b.context(
            f":white_check_mark: Marked resolved by {user_mention(resolution.user)} "
            f"{slack_date(resolution.at)}"
        )
        tail += 1
    b.actions(
        _verdict_buttons(triage_id, resolved=resolution is not None), block_id="oos_verdict_actions"
    )
    b.context(
        f"Triage `{triage_id}` · {report.seconds:.1f} s · judged at {slack_date(report.clock)}"
        + (" · some text was cut: the Evidence file has all of it" if b.overflow else "")
    )
    tail += 2
    return b.done(verdict_text(report), keep_tail=tail)


def explanation_reply(report: Report) -> Message:
    """The agent's explanation as a reply of its own, when the verdict could not be edited."""
    b = Blocks()
    b.context(f"Explanation of the verdict for *{esc(report.sku)}* above")
    _agent_blocks(b, report)
    return b.done(f"Explanation of the verdict for {plain(report.sku)}")


def cited(ids: Sequence[str]) -> str:
    return f" _({', '.join(f'`{esc(c)}`' for c in ids[:6])})_" if ids else ""


def _agent_blocks(b: Blocks, report: Report) -> None:
    """The LLM agent's explanation (grounded claims only), any disagreement, or why it has none."""
    run = report.agent
    if run is None:
        return
    grounded = [c for c in run.claims if c.grounded]
    if run.summary is not None and grounded:
        # Only the grounded claims, each with its ids: the summary is built from them.
        model = f", {esc(run.usage.model)}" if run.usage else ""
        lines = [
            f":robot_face: *Explanation* _(LLM agent{model}; the verdict above is the rules')_"
        ]
        lines += [f"• {esc(c.text)}{cited(c.cites)}" for c in grounded[:6]]
        held = run.held_back_count or len(run.claims) - len(grounded)
        if held:
            lines.append(f"_{held} uncited, mis-cited or unsafe claim(s) held back._")
        b.section("\n".join(lines))
    if run.disagreement:
        b.section(
            f":warning: *The agent disagrees — for a person to check:* {esc(run.disagreement)}"
        )
    if (line := status_line(run)) is not None:
        b.context(f":information_source: {esc(line)}")


def _checks_summary(checks: Sequence[CheckResult]) -> str:
    lines = ["*Checks*"]
    for layer in LAYER_ORDER:
        mine = [c for c in checks if c.layer == layer]
        if not mine:
            continue
        lines.append(f"{layer_icon(mine)} *{layer_name(layer)}* — {layer_counts(mine)}")
        for c in notable(mine):
            detail, _ = clip(esc(c.detail), 300)
            lines.append(f"      {STATUS_ICON[c.status]} `{c.id}` {detail}")
    return "\n".join(lines)


def ticket_not_configured(report: Report) -> Message:
    owner = report.escalation.owner_name
    to = f" This verdict would go to the *{esc(owner)}*." if owner else ""
    cause = f" (`{report.verdict.cause}`)" if report.verdict.cause else ""
    text = (
        f":ticket: No ticket system is configured yet, so no ticket was opened for "
        f"*{esc(report.sku)}*{cause}.{to} Press *Evidence file* to attach the evidence package "
        "to a ticket by hand."
    )
    return notice(text)


def resolved_notice(user: str, sku: str) -> Message:
    b = Blocks()
    b.context(f":white_check_mark: {user_mention(user)} marked *{esc(sku)}* resolved.")
    return b.done(f"{plain(sku)} marked resolved by {user_mention(user)}")


def already_resolved(resolution: Resolution, sku: str) -> Message:
    """Ephemeral: someone pressed Mark resolved on a triage that was resolved already."""
    return notice(
        f":white_check_mark: *{esc(sku)}* was already marked resolved by "
        f"{user_mention(resolution.user)} "
        f"{slack_date(resolution.at)}."
    )


def _ticket_link(ticket: Ticket | None) -> str:
    if ticket is None:
        return "the ticket"
    return link(ticket.url, ticket.key)


def ticket_notice(
    outcome: Outcome,
    *,
    sku: str,
    cause: str | None = None,
    owner_name: str | None = None,
    system: str = "ticket system",
) -> Message:
    """What became of a ticket action, posted in the triage's thread (``bot.tickets``)."""
    link = _ticket_link(outcome.ticket)
    cause = f" · `{cause}`" if cause else ""
    kind = outcome.kind
    if outcome.replayed and outcome.ticket is not None:
        text = f":ticket: This triage was escalated already: {link}."
    elif kind == "opened":
        to = f" for the *{esc(owner_name)}*" if owner_name else ""
        mention = f" {group_mention(outcome.slack_group)}" if outcome.slack_group else ""
        text = (
            f":ticket: Opened {link}{to}{mention}: the evidence package, the checks that passed "
            "and the report (JSON) are on it."
        )
    elif kind == "commented":
        text = (
            f":ticket: {link} is already open for *{esc(sku)}*{cause}: this triage's evidence "
            "was added to it as a comment."
        )
    elif kind == "reopened":
        text = f":ticket: {link} had been resolved and the cause is back: reopened with the new evidence."
    elif kind == "linked":
        text = (
            f":ticket: {_ticket_link(outcome.previous)} had been resolved and the cause is back: "
            f"opened {link} for the recurrence, linked to it."
        )
    elif kind == "resolved":
        text = f":white_check_mark: {link} is resolved."
    elif kind == "queued":
        text = (
            f":hourglass_flowing_sand: The {esc(system)} is not answering "
            f"({esc(outcome.error or 'no detail')}). The ticket is kept in the outbox and "
            "retried automatically; its link will be posted here."
        )
    elif kind == "failed":
        text = (
            f":warning: The ticket could not be written: {esc(outcome.error or 'no detail')}. "
            "It is kept: fix the configuration or credentials, then run `oos tickets retry`."
        )
    elif kind == "busy":
        text = (
            f":ticket: A ticket for *{esc(sku)}*{cause} is being written right now; its link "
            "will be posted in the thread that asked first."
        )
    else:
        text = f":ticket: Nothing to escalate for *{esc(sku)}*: no ticket was opened."
    return notice(text)
