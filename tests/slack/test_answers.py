"""The deterministic answers to questions in a triage thread."""

from __future__ import annotations

import pytest

from bot.report import Report
from bot.slack.answers import answer_question
from tests.slack.reports import sku_3101


@pytest.fixture(scope="module")
def report() -> Report:
    return sku_3101()


@pytest.mark.parametrize(
    ("question", "topic", "cites"),
    [
        ("<@UBOT> what does the webhook log say?", "ERP webhook log", "E5"),
        ("is the connector flow running?", "Middleware connector", "E4"),
        ("any credential changes recently?", "Recent changes", "E6"),
        ("when did it go out of stock?", "Storefront out-of-stock time", "E2"),
        ("what does the ERP show?", "ERP record", "E3"),
        ("who owns this?", "Who owns it", None),
        ("what should we fix first?", "Next step", "L3.flow_status"),
        ("how sure are you?", "How sure", "L3.flow_status"),
        ("what could not be verified?", "What could not be verified", None),
        ("show me the evidence", "Evidence package", "E1"),
        ("why?", "Why", "L3.flow_status"),
        ("tell me about L3.flow_status", "Checks you named", "L3.flow_status"),
        ("and E2?", "Evidence you named", "E2"),
        ("what about layer 4", "Layer 4 · ERP trigger / webhook", "L4.item_type"),
        ("hello there", "Why", "L3.flow_status"),
    ],
)
def test_a_question_is_answered_by_the_evidence_that_answers_it(
    report: Report, question: str, topic: str, cites: str | None
) -> None:
    answers = answer_question(report, question)
    first = answers[0]
    assert first.topic == topic
    assert first.lines
    if cites:
        assert cites in first.cites


def test_answers_are_bounded_and_never_empty(report: Report) -> None:
    answers = answer_question(
        report, "webhook connector changes owner next evidence why layer 1 layer 2"
    )
    assert 1 <= len(answers) <= 3


def test_the_webhook_answer_quotes_the_evidence(report: Report) -> None:
    (first, *_rest) = answer_question(report, "webhook?")
    assert any("the ERP never received it" in line for line in first.lines)
