"""Pure tests of every Block Kit builder: content, escaping, and Slack's limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.report import Report
from bot.slack.answers import answer_question
from bot.slack.blocks import common, notices, progress, replies, verdict
from bot.slack.blocks import evidence as evidence_blocks
from bot.slack.blocks import home as home_blocks
from bot.slack.blocks import markdown as markdown_blocks
from tests.slack.reports import huge, sku_3101


@pytest.fixture(scope="module")
def report() -> Report:
    return sku_3101()


def _texts(block: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, text) for every text object in a block."""
    if "text" in block and isinstance(block["text"], dict):
        yield block["type"], block["text"]["text"]
    for f in block.get("fields", []):
        yield "field", f["text"]
    for e in block.get("elements", []):
        if e.get("type") == "button":
            yield "button", e["text"]["text"]
        elif "text" in e and isinstance(e["text"], str):
            yield "context", e["text"]


def assert_within_limits(
    message_blocks: list[dict[str, Any]], max_blocks: int = common.MAX_BLOCKS
) -> None:
    assert len(message_blocks) <= max_blocks
    limits = {
        "header": common.MAX_HEADER_TEXT,
        "section": common.MAX_SECTION_TEXT,
        "field": common.MAX_FIELD_TEXT,
        "button": common.MAX_BUTTON_TEXT,
        "context": common.MAX_SECTION_TEXT,
    }
    for block in message_blocks:
        assert len(block.get("fields", [])) <= common.MAX_FIELDS
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= common.MAX_CONTEXT_ELEMENTS
        if block["type"] == "section":
            assert "text" in block or "fields" in block
        for kind, text in _texts(block):
            assert text, f"empty {kind} text"
            assert len(text) <= limits[kind], f"{kind} text of {len(text)} characters"
        for e in block.get("elements", []):
            if e.get("type") == "button":
                assert len(e["value"]) <= 2000 and len(e["action_id"]) <= 255


def test_the_verdict_says_what_an_operator_needs(report: Report) -> None:
    message = verdict.verdict_message(report, "abc123")
    everything = json.dumps(message.blocks, ensure_ascii=False)
    assert message.text.startswith("SKU-3101: L3.flow_suspended (confirmed)")
    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "SKU-3101 · L3.flow_suspended", "emoji": True},
    }
    for expected in (
        "The connector flow that carries inventory is paused",  # the cause in plain words
        "Layer 3 · middleware connector",
        "Integration admin",
        "Next step:",
        "all_channels_oos_erp_stock",
        "confirmed",
        "INVALID_LOGIN_ATTEMPT",
        "the ERP never received it",
        "Triage `abc123`",
    ):
        assert expected in everything, expected
    for item in report.evidence:
        assert f"*{item.id} · {item.title}*" in everything
    assert not message.overflow
    assert_within_limits(message.blocks)


def test_a_huge_report_respects_every_limit_and_points_to_the_file(report: Report) -> None:
    message = verdict.verdict_message(huge(report), "abc123")
    assert_within_limits(message.blocks)
    assert message.overflow, "the runner must attach the evidence file"
    assert "full text is in the Evidence file" in json.dumps(message.blocks)
    assert any(b["type"] == "actions" for b in message.blocks), "the buttons always survive"
    assert len(message.text) <= common.MAX_FALLBACK_TEXT


def test_the_evidence_file_carries_everything_uncut(report: Report) -> None:
    big = huge(report)
    markdown = markdown_blocks.evidence_markdown(big, "abc123")
    for item in big.evidence:
        assert item.statement in markdown
    for check in big.checks:
        assert f"`{check.id}`" in markdown
    files = evidence_blocks.evidence_files(report, "abc123")
    assert files.json_name == "oos-SKU-3101-abc123.json"
    assert Report.model_validate_json(files.json_text) == report


def test_resolved_verdict_shows_who_and_drops_the_state_changing_buttons(report: Report) -> None:
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    message = verdict.verdict_message(report, "abc123", resolution=common.Resolution("U5", at))
    actions = next(b for b in message.blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        verdict.ACTION_RERUN,
        verdict.ACTION_EVIDENCE,
    ]
    assert "Marked resolved by <@U5>" in json.dumps(message.blocks)


def test_vendor_text_cannot_ping_or_link(report: Report) -> None:
    evil = report.evidence[0].model_copy(
        update={"statement": "<!channel> <@U1> <https://x.example|click> & co"}
    )
    message = verdict.verdict_message(report.model_copy(update={"evidence": [evil]}), "abc123")
    everything = json.dumps(message.blocks)
    assert "<!channel>" not in everything and "<https://x.example" not in everything
    assert "&lt;!channel&gt; &lt;@U1&gt;" in everything and "&amp; co" in everything


def test_progress_shows_each_layer_as_it_is_walked(report: Report) -> None:
    layer3 = [c for c in report.checks if c.layer == 3]
    running = progress.progress_message("SKU-3101", {3: layer3})
    text = running.blocks[1]["text"]["text"]
    assert ":x: *Layer 3 · middleware connector* — 2 fail · 1 pass · 5 skipped" in text
    assert "Layer 1 · storefront feed — _checking…_" in text
    assert "`L3.flow_status`" in text

    walked = {
        layer: [c for c in report.checks if c.layer == layer] for layer in (1, 2, 3, 4, "hop")
    }
    done = progress.progress_message("SKU-3101", walked, state="done", seconds=1.25)  # type: ignore[arg-type]
    assert "Checklist walked for *SKU-3101* in 1.2 s" in done.blocks[0]["text"]["text"]
    assert "checking" not in json.dumps(done.blocks)

    explaining = progress.progress_message("SKU-3101", walked, state="explaining")  # type: ignore[arg-type]
    assert "the agent is writing its explanation" in explaining.blocks[0]["text"]["text"]
    assert "checking" not in json.dumps(explaining.blocks)

    failed = progress.progress_message(
        "SKU-3101", {}, state="failed", reference="ab12cd34", reason="it took too long"
    )
    assert "Reference `ab12cd34`" in json.dumps(failed.blocks)
    assert "checking" not in json.dumps(failed.blocks)


def test_usage_monitoring_and_refusals_are_short_and_clear() -> None:
    assert "/oos SKU-1042" in json.dumps(notices.usage_message().blocks)
    assert "not configured yet" in notices.monitoring_not_configured("drift").text
    assert notices.refusal("Nope.").text == "Nope."


def test_ticket_message_says_no_ticket_system_is_configured(report: Report) -> None:
    text = verdict.ticket_not_configured(report).text
    assert "No ticket system is configured yet" in text and "Integration admin" in text


def test_home_view_lists_recent_triages_within_the_home_limit() -> None:
    row = {
        "id": "abc123",
        "sku": "SKU-3101",
        "cause": "L3.flow_suspended",
        "layer": "3",
        "confidence": "confirmed",
        "started_at": "2026-11-20T07:00:00+00:00",
        "channel": "C1",
        "thread_ts": "1700000000.000100",
    }
    view = home_blocks.home_view([row] * 500, workspace_url="https://w.slack.com/")
    assert view["type"] == "home"
    assert_within_limits(view["blocks"], common.MAX_HOME_BLOCKS)
    text = json.dumps(view)
    assert (
        "https://w.slack.com/archives/C1/p1700000000000100" in text and "L3.flow_suspended" in text
    )
    assert "No triages yet" in json.dumps(home_blocks.home_view([]))


def test_a_mention_reply_is_built_from_the_answers(report: Report) -> None:
    reply = replies.mention_reply("SKU-3101", answer_question(report, "who owns this?"))
    assert "Integration admin" in json.dumps(reply.blocks)
    assert_within_limits(reply.blocks)


def test_clip_says_when_it_cut() -> None:
    assert common.clip("abc", 3) == ("abc", False)
    assert common.clip("abcdef", 4) == ("abc…", True)
