"""The App Home tab: the user's recent triages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.outside_text import channel_ref, link, user_mention
from bot.slack.blocks.common import MAX_HOME_BLOCKS, Block, Blocks, esc, resolution_of, slack_date
from bot.slack.blocks.notices import USAGE


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
    b = Blocks()
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
