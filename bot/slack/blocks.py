"""Every message, view and file the Slack app shows, as pure functions of the triage report.

Nothing here does I/O, so each builder is unit-tested on its own. Builders respect Slack's
limits (50 blocks per message, 100 per Home view, 3000 characters per section, 150 per header,
2000 per field, 75 per button label, 10 context elements). Text that does not fit is cut with a
visible pointer to the evidence file, and the returned ``Message`` says so (``overflow``) so
the runner attaches the file: long evidence goes to the file, never silently truncated.

Every string a vendor, a user or the model wrote goes through ``bot.outside_text.outside``
(``esc`` here for mrkdwn, ``plain`` for a message's top-level ``text`` and file comments), and
every mrkdwn text object is ``verbatim``: outside text never becomes a mention, a channel ping
or a link. The links and mentions the bot builds come from ``bot.outside_text`` too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.agent.render import status_line
from bot.monitor.health import HOP_WORDS, flow_summary, minutes, percent, trigger_words
from bot.outside_text import channel_ref, group_mention, link, outside, user_mention
from bot.report import AgentClaim, CheckResult, EvidenceItem, Report
from bot.slack.answers import Answer
from bot.tree import LAYER_NAMES, LAYER_ORDER, Layer

if TYPE_CHECKING:
    from bot.monitor.drift import DriftItem, DriftResult
    from bot.monitor.health import HealthReport
    from bot.monitor.latency import LatencyAlert
    from bot.monitor.lowstock import LowStock
    from bot.monitor.map import TriggerMap
    from bot.tickets.service import Outcome
    from tools.ticketing.base import Ticket

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_FALLBACK_TEXT = 3000
MORE_IN_FILE = " … (cut here: the full text is in the Evidence file)"

ACTION_RERUN = "oos_rerun"
ACTION_RESOLVE = "oos_resolve"
ACTION_EVIDENCE = "oos_evidence"
ACTION_TICKET = "oos_ticket"

MONITORING_COMMANDS = ("drift", "health", "map")

_STATUS_ICON = {
    "pass": ":white_check_mark:",
    "fail": ":x:",
    "unknown": ":warning:",
    "skipped": ":heavy_minus_sign:",
}
_CONFIDENCE_ICON = {"confirmed": ":red_circle:", "likely": ":large_orange_circle:"}

Block = dict[str, Any]
ProgressState = Literal["running", "explaining", "done", "failed"]


@dataclass(frozen=True)
class Message:
    """A message ready for ``chat.postMessage``/``chat.update``/``respond``."""

    text: str
    blocks: list[Block]
    overflow: bool = False

    def kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Resolution:
    user: str
    at: datetime


def resolution_of(row: Mapping[str, Any]) -> Resolution | None:
    """The saved resolution of a store row (``resolved_by``/``resolved_at``), if it has one."""
    user, at = row.get("resolved_by"), row.get("resolved_at")
    if not user or not at:
        return None
    try:
        when = datetime.fromisoformat(str(at))
    except ValueError:
        return None
    return Resolution(user=str(user), at=when if when.tzinfo else when.replace(tzinfo=UTC))


# ---------------------------------------------------------------------------------------------
# Primitives


def esc(text: object) -> str:
    """Outside text in mrkdwn: it cannot become a mention, link or channel ping."""
    return outside(text)


def plain(text: object) -> str:
    """Outside text in a message's top-level ``text`` or a file comment (no ``verbatim``)."""
    return outside(text, "plain")


def mrkdwn(text: str) -> Block:
    """A mrkdwn text object; ``verbatim`` so Slack links and pings only what we marked up."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def clip(text: str, limit: int, marker: str = "…") -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters (marker included); the flag says whether it was cut."""
    if len(text) <= limit:
        return text, False
    head = text[: max(0, limit - len(marker))]
    # Never cut escaped or marked-up text in half: a lone "&g" or "<https://…" left at the end
    # would be raw markup. Back off to before an unfinished entity or <…> token.
    amp, lt = head.rfind("&"), head.rfind("<")
    if amp > head.rfind(";"):
        head = head[:amp]
    if lt > head.rfind(">"):
        head = head[:lt]
    return head.rstrip() + marker, True


def slack_date(at: datetime) -> str:
    """A date every reader sees in their own time zone; the fallback is UTC."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def layer_name(layer: Layer | None) -> str:
    return "no layer" if layer is None else LAYER_NAMES[layer]


class _Blocks:
    """Collects blocks, clipping every text to its limit and remembering whether any was cut."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.overflow = False

    def _fit(self, text: str, limit: int, marker: str = MORE_IN_FILE) -> str:
        out, cut = clip(text, limit, marker)
        self.overflow |= cut
        return out

    def header(self, text: str) -> None:
        out, _ = clip(text, MAX_HEADER_TEXT)
        self.blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": out, "emoji": True}}
        )

    def section(self, text: str) -> None:
        self.blocks.append(
            {
                "type": "section",
                "text": mrkdwn(self._fit(text, MAX_SECTION_TEXT)),
            }
        )

    def fields(self, items: Sequence[str]) -> None:
        self.blocks.append(
            {
                "type": "section",
                "fields": [mrkdwn(self._fit(f, MAX_FIELD_TEXT)) for f in items[:MAX_FIELDS]],
            }
        )

    def context(self, *texts: str) -> None:
        elements = [
            mrkdwn(self._fit(t, MAX_SECTION_TEXT)) for t in texts[:MAX_CONTEXT_ELEMENTS] if t
        ]
        if elements:
            self.blocks.append({"type": "context", "elements": elements})

    def divider(self) -> None:
        self.blocks.append({"type": "divider"})

    def actions(self, buttons: Sequence[Block], block_id: str) -> None:
        self.blocks.append({"type": "actions", "block_id": block_id, "elements": list(buttons)})

    def done(self, text: str, *, max_blocks: int = MAX_BLOCKS, keep_tail: int = 0) -> Message:
        blocks = self.blocks
        if len(blocks) > max_blocks:
            # Keep the head (the verdict) and the tail (buttons, footer); say that the rest is
            # in the file. Never expected with the current layouts; a guard for growth.
            tail = blocks[len(blocks) - keep_tail :] if keep_tail else []
            head = blocks[: max_blocks - keep_tail - 1]
            note: Block = {
                "type": "context",
                "elements": [mrkdwn("More than fits in one message: see the Evidence file.")],
            }
            blocks = [*head, note, *tail]
            self.overflow = True
        fallback, _ = clip(text, MAX_FALLBACK_TEXT)
        return Message(text=fallback, blocks=blocks, overflow=self.overflow)


def button(
    text: str, action_id: str, value: str, *, style: str | None = None, confirm: Block | None = None
) -> Block:
    label, _ = clip(text, MAX_BUTTON_TEXT)
    out: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


# ---------------------------------------------------------------------------------------------
# Short answers: usage, refusals, monitoring


USAGE = (
    "*`/oos SKU`* walks the four-layer checklist for one SKU — storefront feed → marketplace "
    "listing → middleware connector → ERP trigger — and posts a verdict with its cause code, "
    "the evidence package and who owns the fix, in a thread.\n\n"
    "• `/oos SKU-1042` — triage one SKU in this channel\n"
    "• `/oos help` — this message\n"
    "• `/oos drift` · `/oos health` · `/oos map` — monitoring (catalog drift, connector health, "
    "trigger-chain map)\n\n"
    "Mention me in a triage thread to ask about it (_“what does the webhook log say?”_, "
    "_“who owns this?”_). Your recent triages are on my Home tab."
)


def usage_message() -> Message:
    b = _Blocks()
    b.section(USAGE)
    return b.done("Usage: /oos SKU — triage one SKU; /oos help; /oos drift | health | map")


def monitoring_not_configured(command: str) -> Message:
    text = (
        f":information_source: `/oos {command}` is part of monitoring, and monitoring is not "
        "configured yet on this server, so there is nothing to show. Triage works now: "
        "`/oos SKU-1042`."
    )
    b = _Blocks()
    b.section(text)
    return b.done(f"/oos {command}: monitoring is not configured yet.")


def refusal(reason: str) -> Message:
    """An ephemeral refusal: says what was refused and what to do instead. ``reason`` is ours."""
    b = _Blocks()
    b.section(f":no_entry: {reason}")
    return b.done(reason)


def notice(text: str) -> Message:
    b = _Blocks()
    b.section(text)
    return b.done(text)


# ---------------------------------------------------------------------------------------------
# The thread: root message, progress, verdict, error


def root_message(
    sku: str, user: str, *, outcome: str | None = None, resolution: Resolution | None = None
) -> Message:
    """The channel message that opens the thread. ``outcome`` is added once the walk ends, and
    ``resolution`` once someone presses Mark resolved, so the channel view says it too."""
    text = f"Triage for {plain(sku)} started by {user_mention(user)}"
    b = _Blocks()
    b.section(f":mag: Triage for *{esc(sku)}* started by {user_mention(user)}")
    if outcome:
        b.context(outcome)
        text = f"{text} — {outcome}"
    else:
        b.context("Walking the checklist in the thread…")
    if resolution:
        who = user_mention(resolution.user)
        b.context(f":white_check_mark: Resolved by {who} {slack_date(resolution.at)}")
        text = f"{text} — resolved by {who}"
    return b.done(text)


def root_outcome(report: Report) -> str:
    """One line for the root message: searchable cause code, confidence, layer."""
    v = report.verdict
    if v.cause:
        return f"{_CONFIDENCE_ICON.get(v.confidence, ':large_yellow_circle:')} `{v.cause}` ({v.confidence}) · {layer_name(v.layer)}"
    if v.confidence == "inconclusive":
        return ":large_yellow_circle: inconclusive — see the thread for what could not be verified"
    return ":large_green_circle: in sync — no gap found"


def _layer_counts(checks: Iterable[CheckResult]) -> str:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    order = ("fail", "unknown", "pass", "skipped")
    return " · ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def _layer_icon(checks: Sequence[CheckResult]) -> str:
    statuses = {c.status for c in checks}
    for status in ("fail", "unknown", "pass"):
        if status in statuses:
            return _STATUS_ICON[status]
    return _STATUS_ICON["skipped"]


def _notable(checks: Iterable[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.status in ("fail", "unknown")]


def progress_message(
    sku: str,
    walked: Mapping[Layer, Sequence[CheckResult]],
    *,
    state: ProgressState = "running",
    user: str | None = None,
    rerun: bool = False,
    seconds: float | None = None,
    reference: str | None = None,
    reason: str | None = None,
) -> Message:
    """The one progress message of a walk, updated in place as each layer finishes."""
    b = _Blocks()
    who = f" (re-run by {user_mention(user)})" if rerun and user else ""
    if state == "running":
        title = f":hourglass_flowing_sand: Walking the checklist for *{esc(sku)}*{who}"
    elif state == "explaining":
        title = (
            f":ballot_box_with_check: Checklist walked for *{esc(sku)}*{who} — "
            "_the agent is writing its explanation…_"
        )
    elif state == "done":
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        title = f":ballot_box_with_check: Checklist walked for *{esc(sku)}*{took}{who}"
    else:
        title = f":warning: The walk for *{esc(sku)}* stopped{who}"
    b.section(title)
    lines = []
    for layer in LAYER_ORDER:
        checks = walked.get(layer)
        if checks is None:
            waiting = "checking…" if state == "running" else "not walked"
            lines.append(f":white_small_square: {layer_name(layer)} — _{waiting}_")
            continue
        lines.append(
            f"{_layer_icon(checks)} *{layer_name(layer)}* — {_layer_counts(checks) or 'no checks'}"
        )
        for c in _notable(checks):
            detail, _ = clip(esc(c.detail), 240)
            lines.append(f"      {_STATUS_ICON[c.status]} `{c.id}` {detail}")
    b.section("\n".join(lines))
    if state == "failed":
        b.context(_failure_words(reason, reference))
    done = sum(1 for layer in LAYER_ORDER if layer in walked)
    return b.done(f"{plain(sku)}: {done} of {len(LAYER_ORDER)} checklist stages walked ({state})")


def _failure_words(reason: str | None, reference: str | None) -> str:
    ref = f" Reference `{reference}` (the details are in the server log)." if reference else ""
    why = esc(reason or "an internal error")
    return f"The triage could not finish: {why}.{ref} Press Re-run or type the command again."


def error_message(sku: str, *, reference: str, reason: str) -> Message:
    """The final state of a thread whose triage failed: a reference id, never a traceback."""
    b = _Blocks()
    b.section(
        f":warning: *The triage of {esc(sku)} could not finish.*\n{_failure_words(reason, reference)}"
    )
    return b.done(
        f"The triage of {plain(sku)} could not finish ({plain(reason)}). Reference {reference}."
    )


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
    b = _Blocks()
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
    b = _Blocks()
    b.context(f"Explanation of the verdict for *{esc(report.sku)}* above")
    _agent_blocks(b, report)
    return b.done(f"Explanation of the verdict for {plain(report.sku)}")


def _cited(ids: Sequence[str]) -> str:
    return f" _({', '.join(f'`{esc(c)}`' for c in ids[:6])})_" if ids else ""


def _agent_blocks(b: _Blocks, report: Report) -> None:
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
        lines += [f"• {esc(c.text)}{_cited(c.cites)}" for c in grounded[:6]]
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
        lines.append(f"{_layer_icon(mine)} *{layer_name(layer)}* — {_layer_counts(mine)}")
        for c in _notable(mine):
            detail, _ = clip(esc(c.detail), 300)
            lines.append(f"      {_STATUS_ICON[c.status]} `{c.id}` {detail}")
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
    b = _Blocks()
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


# ---------------------------------------------------------------------------------------------
# Mentions and App Home


def mention_reply(sku: str, answers: Sequence[Answer], *, note: str | None = None) -> Message:
    """The reply to a question in a triage thread, built from the saved report only. ``note``
    says why the agent did not answer (when it is on but could not)."""
    b = _Blocks()
    for answer in answers[:10]:
        body = "\n".join(esc(line) for line in answer.lines)
        cites = f"\n_from {', '.join(f'`{c}`' for c in answer.cites[:20])}_" if answer.cites else ""
        b.section(f"*{esc(answer.topic)}*\n{body}{cites}")
    if note:
        b.context(f":information_source: {esc(note)}")
    b.context(
        f"Answered from the saved report for {esc(sku)}. Ask about the evidence, the webhook log, "
        "the connector, recent changes, the owner, the next step, a layer, or a check id."
    )
    first = answers[0] if answers else None
    text = f"{first.topic}: {' '.join(first.lines)}" if first else f"About {sku}"
    return b.done(plain(text))


def agent_reply(
    sku: str,
    text: str,
    claims: Sequence[AgentClaim],
    *,
    model: str,
    tool_calls: int = 0,
    partial: str | None = None,
) -> Message:
    """The agent's answer to a thread question: its grounded claims, each with the ids it cites."""
    b = _Blocks()
    grounded = [f"• {esc(c.text)}{_cited(c.cites)}" for c in claims[:8] if c.grounded]
    b.section("\n".join(grounded or [esc(text)]))
    fresh = f" and {tool_calls} fresh tool call(s)" if tool_calls else ""
    cut = f" Partial: {esc(partial)}." if partial else ""
    b.context(
        f":robot_face: Answered by the LLM agent ({esc(model)}) from the saved report for "
        f"{esc(sku)}, this thread's earlier questions{fresh}. Every point cites its evidence.{cut}"
    )
    return b.done(plain(text))


def not_a_triage_thread() -> Message:
    return notice(
        "I answer questions inside a triage thread. Start one with `/oos SKU-1042`, then mention "
        "me in its thread."
    )


def _thread_link(workspace_url: str | None, channel: str | None, thread_ts: str | None) -> str:
    if not channel:
        return ""
    if workspace_url and thread_ts:
        url = f"{workspace_url.rstrip('/')}/archives/{channel}/p{thread_ts.replace('.', '')}"
        return f"{link(url, 'open the thread')} in {channel_ref(channel)}"
    return f"in {channel_ref(channel)}"


def home_view(rows: Sequence[Mapping[str, Any]], *, workspace_url: str | None = None) -> Block:
    """The App Home tab: the user's recent triages, newest first, with their verdicts; a
    resolved one says so, and who resolved it when."""
    b = _Blocks()
    b.header("Your recent triages")
    if not rows:
        b.section(
            "No triages yet. Type `/oos SKU-1042` in a channel where I am, and the walk and the verdict appear in a thread."
        )
    per_row = 2
    room = (MAX_HOME_BLOCKS - 4) // per_row
    for row in rows[:room]:
        cause = (
            f"`{esc(row['cause'])}`"
            if row.get("cause")
            else ("in sync" if row.get("confidence") != "inconclusive" else "no cause proven")
        )
        layer = row.get("layer")
        layer_words = (
            f" · layer {layer}"
            if layer and layer != "hop"
            else (" · hop" if layer == "hop" else "")
        )
        resolution = resolution_of(row)
        state = " · :white_check_mark: *resolved*" if resolution else ""
        b.section(
            f"*{esc(row['sku'])}* — {cause} ({esc(row.get('confidence') or '?')}){layer_words}{state}"
        )
        when = ""
        if row.get("started_at"):
            try:
                when = slack_date(datetime.fromisoformat(str(row["started_at"])))
            except ValueError:
                when = esc(str(row["started_at"]))
        resolved = (
            f"resolved by {user_mention(resolution.user)} {slack_date(resolution.at)}"
            if resolution
            else ""
        )
        b.context(
            " · ".join(
                x
                for x in (
                    when,
                    _thread_link(workspace_url, row.get("channel"), row.get("thread_ts")),
                    resolved,
                    f"triage `{row['id']}`",
                )
                if x
            )
        )
    b.divider()
    b.context(USAGE.split("\n\n")[0])
    msg = b.done("Your recent triages", max_blocks=MAX_HOME_BLOCKS)
    return {"type": "home", "blocks": msg.blocks}


# ---------------------------------------------------------------------------------------------
# The evidence file


def evidence_json(report: Report) -> str:
    """The report exactly as ``oos triage --json`` prints it."""
    return report.model_dump_json(indent=2)


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


# ---------------------------------------------------------------------------------------------
# Monitoring: the daily drift post, the weekly health post, latency alerts, the map

ACTION_MONITOR_TRIAGE = "oos_monitor_triage"

_PROBLEM_ICON = {
    "suspended": ":red_circle:",
    "error": ":red_circle:",
    "disabled": ":black_circle:",
    "stalled": ":large_orange_circle:",
    "error_rate": ":large_orange_circle:",
}


def _with_button(b: _Blocks, text: str, accessory: Block) -> None:
    b.blocks.append(
        {
            "type": "section",
            "text": mrkdwn(b._fit(text, MAX_SECTION_TEXT)),
            "accessory": accessory,
        }
    )


def monitor_triage_button(sku: str) -> Block:
    """Starts ``/oos SKU`` for the listed SKU, in the channel of the post."""
    return button(":mag: Triage", ACTION_MONITOR_TRIAGE, sku)


def _episode(item: DriftItem) -> str:
    if item.status == "new":
        return ":new: new"
    return "open under a day" if item.days_open == 0 else f"open {item.days_open} d"


def drift_post(
    result: DriftResult,
    *,
    worst: int = 10,
    low: LowStock | None = None,
    csv_name: str | None = None,
    low_csv_name: str | None = None,
) -> Message:
    """The daily drift post: how many compared and flagged, new / open / resolved, the worst
    offenders with a Triage button each, low stock, and where the full list is."""
    c = result.counts
    b = _Blocks()
    b.header(f"Catalog drift · {result.ran_at.astimezone(UTC):%Y-%m-%d}")
    measure = "on hand" if result.measure == "on_hand" else "available"
    units = "unit" if result.threshold == 1 else "units"
    systems = f"{esc(result.storefront)} vs {esc(result.erp)}, {measure}"
    if c.compared == 0:
        b.section(
            f":warning: *No SKU could be compared* ({systems}): nothing is known about drift "
            "today. The CSV and the server log say what each system returned."
        )
        text = "Catalog drift: no SKU could be compared"
    elif c.flagged == 0:
        b.section(
            f":large_green_circle: *{c.compared:,}* SKUs compared ({systems}): none disagrees "
            f"by more than {result.threshold} {units}."
        )
        text = f"Catalog drift: {c.compared:,} SKUs compared, none over {result.threshold} {units}"
    else:
        b.section(
            f":large_orange_circle: *{c.compared:,}* SKUs compared ({systems}): *{c.flagged:,}* "
            f"disagree by more than {result.threshold} {units}."
        )
        text = (
            f"Catalog drift: {c.flagged:,} of {c.compared:,} SKUs disagree by more than "
            f"{result.threshold} {units} ({c.new} new, {c.open} still open, {c.resolved} resolved)"
        )
    nc = result.not_compared
    skipped = nc.storefront_only + nc.erp_only + nc.untracked + nc.duplicate_skus
    longest = max((i.days_open for i in result.flagged if i.status == "open"), default=None)
    since = f"since {slack_date(result.previous_run_at)}" if result.previous_run_at else "first run"
    fields = [
        f"*New* ({since})\n{c.new:,}",
        f"*Still open*\n{c.open:,}" + (f" (longest {longest} d)" if longest else ""),
        f"*Resolved*\n{c.resolved:,}",
        f"*Not compared*\n{skipped:,}"
        + (
            f" ({nc.storefront_only} storefront only, {nc.erp_only} ERP only, "
            f"{nc.untracked} untracked, {nc.duplicate_skus} duplicate SKUs)"
            if skipped
            else ""
        ),
    ]
    if result.unverified:
        fields.append(f"*Open, not compared today*\n{len(result.unverified):,}")
    b.fields(fields)
    shown = result.worst(worst)
    if shown:
        more = f" (the {len(shown)} largest of {c.flagged:,})" if c.flagged > len(shown) else ""
        b.section(f"*Largest gaps*{more}")
        for item in shown:
            _with_button(
                b,
                f"`{esc(item.sku)}` · storefront *{item.storefront}* · ERP *{item.erp}* · "
                f"gap *{item.gap:+d}* · {_episode(item)}",
                monitor_triage_button(item.sku),
            )
    if result.resolved:
        names = ", ".join(f"`{esc(i.sku)}`" for i in result.resolved[:10])
        rest = f" and {len(result.resolved) - 10:,} more" if len(result.resolved) > 10 else ""
        b.section(f":white_check_mark: *Resolved since the last run:* {names}{rest}")
    if low is not None:
        b.section(_low_stock_text(low, low_csv_name))
    where = f"The full list is in `{esc(csv_name)}` in the thread. " if csv_name else ""
    b.context(f"{where}Run `{result.run_id}` · {result.seconds:.1f} s")
    return b.done(text)


def _low_stock_text(low: LowStock, csv_name: str | None) -> str:
    factor = f"{low.factor:g}"
    if low.low == 0:
        return f":package: *Low stock:* none of {low.checked:,} SKUs is under {factor} × its daily sell-through."
    lines = [
        f":package: *Low stock:* {low.low:,} of {low.checked:,} SKUs are under {factor} × their "
        "average daily sell-through"
    ]
    for item in low.worst[:5]:
        lines.append(
            f"• `{esc(item.sku)}` {item.available} available, sells {item.daily:.1f} a day "
            f"({item.cover_days:.1f} days of cover)"
        )
    if low.low > 5:
        where = f": `{esc(csv_name)}` in the thread lists them" if csv_name else ""
        lines.append(f"…and {low.low - 5:,} more{where}")
    return "\n".join(lines)


def health_post(report: HealthReport) -> Message:
    """The weekly connector-health post: every flow's status, error rates against the bar,
    stopped or erroring flows named with their reason."""
    b = _Blocks()
    b.header(f"Connector health · {esc(report.system)} · week to {report.checked_at:%Y-%m-%d}")
    if report.error is not None:
        b.section(
            f":warning: *The connector could not be read*, so its health is unknown: "
            f"{esc(report.error)}"
        )
        return b.done(f"Connector health: {plain(report.system)} could not be read")
    flagged = report.flagged
    rate = percent(report.error_rate)
    total = report.records_ok + report.records_failed
    if flagged:
        b.section(
            f":large_orange_circle: *{len(flagged)} of {len(report.flows)} flows need "
            f"attention* · {total:,} records this week, {rate} failed (bar {percent(report.bar)})"
        )
        text = f"Connector health: {len(flagged)} of {len(report.flows)} flows need attention"
    else:
        b.section(
            f":large_green_circle: *All {len(report.flows)} flows healthy* · {total:,} records "
            f"this week, {rate} failed (bar {percent(report.bar)})"
        )
        text = f"Connector health: all {len(report.flows)} flows healthy"
    for line in flagged[:20]:
        icon = _PROBLEM_ICON[line.problems[0]]
        said = "\n".join(f"• {esc(s)}" for s in flow_summary(line, report.bar))
        b.section(
            f"{icon} *{esc(line.name)}* (`{esc(line.flow_id)}`) · {esc(line.hop_words)} · "
            f"{trigger_words(line)}\n{said}"
        )
    healthy = [f for f in report.flows if not f.flagged]
    if healthy:
        names = ", ".join(f"{esc(f.name)} ({percent(f.error_rate)})" for f in healthy[:15])
        rest = f" and {len(healthy) - 15} more" if len(healthy) > 15 else ""
        b.context(f":white_check_mark: Healthy: {names}{rest}")
    return b.done(text)


def _hop_words(hop: str, channel: str | None) -> str:
    """The hop in words (unescaped: the channel is a vendor's name)."""
    words = HOP_WORDS.get(hop, hop)
    return f"{words} ({channel})" if channel else words


def latency_post(alert: LatencyAlert) -> Message:
    """One latency alert: a breach opened, its lag changed band, or it recovered."""
    words = _hop_words(alert.hop, alert.channel)
    hop = esc(words)
    lag = minutes(timedelta(minutes=alert.lag_minutes))
    over = f"over {alert.threshold_minutes} min"
    b = _Blocks()
    if alert.kind == "breach":
        head = f":hourglass_flowing_sand: *Sync latency:* {hop} is *{lag}* behind ({over})"
    elif alert.kind == "changed":
        was = (
            minutes(timedelta(minutes=alert.previous_lag_minutes))
            if alert.previous_lag_minutes is not None
            else "?"
        )
        head = f":arrows_counterclockwise: *Sync latency:* {hop} is now *{lag}* behind (was {was}, {over})"
    else:
        head = (
            f":white_check_mark: *Sync latency:* {hop} is back within {alert.threshold_minutes} min"
        )
    detail = esc(alert.worst.detail)
    via = f" · via {esc(alert.worst.via)}" if alert.worst.via else ""
    body = f"{head}\n{detail}{via}" if alert.kind != "recovered" else head
    if alert.worst.sku and alert.kind != "recovered":
        _with_button(b, body, monitor_triage_button(alert.worst.sku))
    else:
        b.section(body)
    b.context(f"Breach opened {slack_date(alert.opened_at)}")
    hop = plain(words)
    fallback = {
        "breach": f"Sync latency: {hop} is {lag} behind",
        "changed": f"Sync latency: {hop} is now {lag} behind",
        "recovered": f"Sync latency: {hop} is back within {alert.threshold_minutes} min",
    }[alert.kind]
    return b.done(fallback)


def map_comment(m: TriggerMap) -> str:
    """The text that goes with the map's PNG: one line per hop, for search and screen readers."""
    lines = [f"Trigger chain · {plain(m.name)}"]
    for h in m.hops:
        reason = f" ({plain(h.status_reason)})" if h.status_reason else ""
        lines.append(
            f"• {plain(h.source)} → {plain(h.target)}: {plain(h.trigger_words())} · "
            f"{plain(h.lag_words())}{reason}"
        )
    lines += [f":warning: {plain(n)}" for n in m.notes]
    return "\n".join(lines)


def monitor_working(command: str) -> Message:
    words = {
        "drift": "Scanning the catalog for drift",
        "health": "Reading the connector's flows",
        "map": "Drawing the trigger-chain map",
    }.get(command, "Working")
    return notice(f":hourglass_flowing_sand: {words}… the result will be posted in this channel.")


def monitor_failed(command: str, reference: str) -> Message:
    return notice(
        f":warning: `/oos {command}` could not finish. Reference `{reference}` "
        "(the details are in the server log)."
    )
