"""The triage thread's root message, its live progress message, and the error message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from bot.outside_text import user_mention
from bot.report import CheckResult, Report
from bot.slack.blocks.common import (
    STATUS_ICON,
    Blocks,
    Message,
    Resolution,
    clip,
    esc,
    layer_counts,
    layer_icon,
    layer_name,
    notable,
    plain,
    slack_date,
)
from bot.tree import LAYER_ORDER, Layer

_CONFIDENCE_ICON = {"confirmed": ":red_circle:", "likely": ":large_orange_circle:"}
ProgressState = Literal["running", "explaining", "done", "failed"]


def root_message(
    sku: str, user: str, *, outcome: str | None = None, resolution: Resolution | None = None
) -> Message:
    """The channel message that opens the thread. ``outcome`` is added once the walk ends, and
    ``resolution`` once someone presses Mark resolved, so the channel view says it too."""
    text = f"Triage for {plain(sku)} started by {user_mention(user)}"
    b = Blocks()
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
    b = Blocks()
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
            f"{layer_icon(checks)} *{layer_name(layer)}* — {layer_counts(checks) or 'no checks'}"
        )
        for c in notable(checks):
            detail, _ = clip(esc(c.detail), 240)
            lines.append(f"      {STATUS_ICON[c.status]} `{c.id}` {detail}")
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
    b = Blocks()
    b.section(
        f":warning: *The triage of {esc(sku)} could not finish.*\n{_failure_words(reason, reference)}"
    )
    return b.done(
        f"The triage of {plain(sku)} could not finish ({plain(reason)}). Reference {reference}."
    )
