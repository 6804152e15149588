"""Outside text is data: the one place that makes a vendor's, a user's or the model's words safe
to show, whatever surface shows them.

Every renderer passes each string it did not write itself through ``outside(text, surface)``:

    slack     ``& < >`` escaped, so no ``<!channel>``, ``<!here>``, ``<!everyone>``, user or
              group mention, channel link or ``<url|label>`` can come out of it; the blocks
              that carry it are ``verbatim`` (``bot.slack.blocks``), so Slack does not turn a
              bare URL or ``@here`` into a link or a ping either
    plain     as ``slack``, and a bare URL's ``://`` broken with a zero-width space: for a
              message's top-level ``text`` (notifications, the text-only re-post when Slack
              refuses the blocks) and file comments, which have no ``verbatim`` switch
    terminal  control characters removed (an ANSI escape in a hold note cannot repaint the
              operator's terminal); newlines and tabs stay
    ticket    ServiceNow's ``[code]…[/code]`` (which renders HTML in journal fields) and
              Jira wiki link/mention brackets broken; ADF text nodes are literal already

Links and mentions the bot builds itself go through ``link``, ``user_mention``,
``group_mention`` and ``channel_ref``: each checks its id or URL, so only links to records the
bot knows (vendor records, tickets, the Slack thread) and the people it means to ping appear.
"""

from __future__ import annotations

import re
from typing import Literal

Surface = Literal["slack", "plain", "terminal", "ticket"]

_ZWSP = "\u200b"
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(?=//)")
# C0 and C1 controls (ESC, BEL, CSI, …) and DEL; newline and tab are layout, not control.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CODE_TAG = re.compile(r"(?i)\[(/?)(code)\]")
_WIKI = re.compile(r"\[([~^|])")

_USER_ID = re.compile(r"[UW][A-Z0-9]{1,20}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{1,20}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{1,20}")
_SAFE_URL = re.compile(r"https?://[^\s<>|\"'`]+")


def outside(text: object, surface: Surface = "slack") -> str:
    """``text`` (a vendor's, a user's or the model's) made inert for ``surface``."""
    out = _CONTROL.sub("", str(text))
    if surface == "terminal":
        return out
    if surface == "ticket":
        return _WIKI.sub(r"[" + _ZWSP + r"\1", _CODE_TAG.sub(r"[\1" + _ZWSP + r"\2]", out))
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if surface == "plain":
        out = _SCHEME.sub(r"\1:" + _ZWSP, out)
    return out


def link(url: str | None, label: str) -> str:
    """A Slack link the bot built to a record it knows; just the (escaped) label when ``url``
    is not a plain http(s) URL."""
    shown = outside(label)
    if not url or not _SAFE_URL.fullmatch(url):
        return shown
    return f"<{url}|{shown}>"


def user_mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; an id of any other shape is shown as escaped text."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else outside(user_id)


def group_mention(group_id: str) -> str:
    """``<!subteam^S…>`` for a user-group id from the config."""
    return f"<!subteam^{group_id}>" if _GROUP_ID.fullmatch(group_id) else outside(group_id)


def channel_ref(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else outside(channel_id)
