"""Shared pieces of every Slack message: Slack's limits, the ``Message`` type, escaping of
outside text, clipping, dates, and the block builder that clips every text to its limit.

Every string a vendor, a user or the model wrote goes through ``bot.outside_text.outside``
(``esc`` for mrkdwn, ``plain`` for a message's top-level ``text`` and file comments), and every
mrkdwn text object is ``verbatim``: outside text never becomes a mention, a channel ping or a
link. Text that does not fit is cut with a visible pointer to the evidence file, and the
returned ``Message`` says so (``overflow``) so the runner attaches the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.outside_text import outside
from bot.report import CheckResult
from bot.tree import LAYER_NAMES, Layer

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

STATUS_ICON = {
    "pass": ":white_check_mark:",
    "fail": ":x:",
    "unknown": ":warning:",
    "skipped": ":heavy_minus_sign:",
}


Block = dict[str, Any]


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


class Blocks:
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


def layer_counts(checks: Iterable[CheckResult]) -> str:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    order = ("fail", "unknown", "pass", "skipped")
    return " · ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def layer_icon(checks: Sequence[CheckResult]) -> str:
    statuses = {c.status for c in checks}
    for status in ("fail", "unknown", "pass"):
        if status in statuses:
            return STATUS_ICON[status]
    return STATUS_ICON["skipped"]


def notable(checks: Iterable[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.status in ("fail", "unknown")]
