"""What Slack checks in a message before it accepts it, for the strict fake Web API.

``block_errors`` follows Slack's Block Kit reference: block counts (50 in a message, 100 in a
Home view), section text 3000 and fields 10 × 2000, header 150 plain text, context 10 elements,
actions 25 elements, button label 75 / value 2000 / action_id 255 / url 3000, confirm dialogs,
block_id 255, text objects not empty and of a known type. Slack answers ``invalid_blocks`` to
any of these; the fake does the same.

``escaping_errors`` is stricter than Slack: mrkdwn where ``&``, ``<`` or ``>`` appear raw,
outside the constructs the bot builds itself (a user mention ``<@U…>``, a channel ``<#C…>``, a
configured owner's user group ``<!subteam^S…>``, a date ``<!date^…>``, a link
``<https://…|label>``), means outside text was not escaped; ``<!channel>``, ``<!here>`` and
``<!everyone>`` are never the bot's.
"""

from __future__ import annotations

import re
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000

_TEXT_TYPES = {"plain_text", "mrkdwn"}
_BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "image", "rich_text"}
_BUILT_BY_THE_BOT = re.compile(
    r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^<>|]*)?|!subteam\^[A-Z0-9]+(?:\|[^<>|]*)?"
    r"|!date\^[^<>|]+\|[^<>]+"
    r"|(?:https?://|mailto:)[^\s<>|]+(?:\|[^<>]*)?)>"
)
_SPECIAL_MENTION = re.compile(r"<!(?:channel|here|everyone)(?:\|[^>]*)?>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def _text_object(obj: Any, where: str, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in _TEXT_TYPES:
        return [f"{where}: not a text object"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    if len(text) > max_len:
        return [f"{where}: must be less than {max_len + 1} characters ({len(text)})"]
    return []


def _button(element: dict[str, Any], where: str) -> list[str]:
    errors = _text_object(element.get("text"), f"{where}.text", max_len=75, plain_only=True)
    for key, limit in (("action_id", 255), ("value", 2000), ("url", 3000)):
        value = element.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(f"{where}.{key}: must be a string of at most {limit} characters")
    if element.get("style") not in (None, "primary", "danger"):
        errors.append(f"{where}.style: must be primary or danger")
    confirm = element.get("confirm")
    if confirm is not None:
        for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
            if key in confirm or key != "deny":
                errors += _text_object(
                    confirm.get(key),
                    f"{where}.confirm.{key}",
                    max_len=limit,
                    plain_only=key != "text",
                )
    return errors


def _block(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
        return [f"{where}: unknown block type"]
    errors: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > 255):
        errors.append(f"{where}.block_id: at most 255 characters")
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"{where}: a section needs text or fields")
        if "text" in block:
            errors += _text_object(block["text"], f"{where}.text", max_len=3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                errors.append(f"{where}.fields: between 1 and 10 items")
            else:
                for i, f in enumerate(fields):
                    errors += _text_object(f, f"{where}.fields[{i}]", max_len=2000)
    elif kind == "header":
        errors += _text_object(block.get("text"), f"{where}.text", max_len=150, plain_only=True)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            errors.append(f"{where}.elements: between 1 and 10 items")
        else:
            for i, e in enumerate(elements):
                if isinstance(e, dict) and e.get("type") == "image":
                    continue
                errors += _text_object(e, f"{where}.elements[{i}]", max_len=3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            errors.append(f"{where}.elements: between 1 and 25 items")
        else:
            for i, e in enumerate(elements):
                if isinstance(e, dict) and e.get("type") == "button":
                    errors += _button(e, f"{where}.elements[{i}]")
    return errors


def block_errors(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Slack's reasons to answer ``invalid_blocks``; empty when the blocks are acceptable."""
    if blocks in (None, "", []):
        return []
    if not isinstance(blocks, list):
        return ["blocks: must be an array"]
    errors = []
    if len(blocks) > max_blocks:
        errors.append(f"blocks: no more than {max_blocks} items ({len(blocks)})")
    for i, block in enumerate(blocks):
        errors += _block(block, f"blocks[{i}]")
    return errors


def mrkdwn_texts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, text) of every string Slack reads as mrkdwn in a message or view payload:
    the top-level ``text``, ``initial_comment``, and mrkdwn text objects in the blocks."""
    found: list[tuple[str, str]] = []
    for key in ("text", "initial_comment"):
        if isinstance(payload.get(key), str):
            found.append((key, payload[key]))

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append((where, node["text"]))
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(payload.get("blocks"), "blocks")
    walk(payload.get("view"), "view")
    return found


def escaping_errors(payload: dict[str, Any]) -> list[str]:
    """Raw ``& < >`` or special mentions in mrkdwn that the bot did not build itself."""
    errors = []
    for where, text in mrkdwn_texts(payload):
        if mention := _SPECIAL_MENTION.search(text):
            errors.append(f"{where}: a special mention {mention.group(0)}")
        rest = _BUILT_BY_THE_BOT.sub("", text)
        rest = _ENTITY.sub("", rest)
        raw = sorted({c for c in rest if c in "&<>"})
        if raw:
            errors.append(f"{where}: raw {' '.join(raw)} in {text[:120]!r}")
    return errors
