"""The final answer's shape, and grounding: citations that hold, and disagreements shown."""

from __future__ import annotations

import pytest

from bot.agent.answer import AnswerError, FinalAnswer, parse_answer
from bot.agent.grounding import Sources, disagreement, ground
from bot.report import Report
from bot.tree import load_tree

GOOD = '{"verdict": {"layer": 3, "cause": "L3.flow_suspended"}, "summary": "S.", "claims": []}'


@pytest.mark.parametrize(
    "content",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"Here it is:\n{GOOD}",
        GOOD.replace('"layer": 3', '"layer": "3"'),
    ],
)
def test_the_answer_is_read_from_the_reply(content: str) -> None:
    answer = parse_answer(content)
    assert answer.verdict is not None and answer.verdict.cause == "L3.flow_suspended"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("the flow is suspended", "no JSON object"),
        ('{"summary": "x", ', "no JSON object"),
        ('{"summary": "x" "claims": []}', "not valid JSON"),
        ('{"claims": []}', "summary: Field required"),
        ('{"summary": "x", "claims": [{"cites": ["E1"]}]}', "claims.0.text"),
    ],
)
def test_a_reply_that_is_not_the_format_says_why(content: str, problem: str) -> None:
    with pytest.raises(AnswerError, match=problem.replace(".", r"\.")):
        parse_answer(content)


@pytest.mark.parametrize("cause", ["", "none", "null", "in_sync"])
def test_no_cause_in_any_spelling_is_none(cause: str) -> None:
    answer = FinalAnswer.model_validate({"verdict": {"cause": cause}, "summary": "s"})
    assert answer.verdict is not None and answer.verdict.cause is None


def test_citations_resolve_against_the_report(report_3101: Report) -> None:
    sources = Sources.from_report(report_3101)
    fact = report_3101.facts[0].id
    assert sources.resolve("e4") == "E4" and sources.resolve("[E4]") == "E4"
    assert sources.resolve(fact) == fact and sources.resolve("L3.flow_status") == "L3.flow_status"
    assert sources.resolve("T1") is None and sources.resolve("E9") is None


def test_a_quote_must_be_in_the_cited_source_not_in_another(report_3101: Report) -> None:
    answer = FinalAnswer.model_validate(
        {
            "summary": "s",
            "claims": [
                {"text": "a", "cites": ["E4"], "quote": "Suspended"},
                {"text": "b", "cites": ["E1"], "quote": "suspended"},
            ],
        }
    )
    grounded = ground(answer, Sources.from_report(report_3101), report_3101, load_tree())
    assert [c.grounded for c in grounded.claims] == [True, False]


@pytest.mark.parametrize(
    ("rules", "agent", "says"),
    [
        ("L3.flow_suspended", "L3.flow_suspended", None),
        ("L3.flow_suspended", "L4.webhook_rejected", "not L3.flow_suspended"),
        (None, "L4.webhook_rejected", "where the rules engine found no proven cause"),
        ("L3.flow_suspended", None, "names no cause where the rules engine proved"),
    ],
)
def test_disagreement_in_words(
    report_3101: Report, rules: str | None, agent: str | None, says: str | None
) -> None:
    verdict = report_3101.verdict.model_copy(
        update={"cause": rules, "confidence": "confirmed" if rules else "inconclusive"}
    )
    report = report_3101.model_copy(update={"verdict": verdict})
    layer = load_tree().causes[agent].layer if agent else None
    text = disagreement(report, agent, layer)
    if says is None:
        assert text is None
    else:
        assert text is not None and says in text


@pytest.mark.parametrize(
    ("summary", "kept"),
    [
        ("Done: ticket opened. The flow is suspended.", "The flow is suspended."),
        ("I have created INC-123 for you. Flow suspended.", "Flow suspended."),
        ("The ticket INC-9 has been resolved.", ""),
        ("A ticket should be opened for the integration admin.", None),
        ("The flow was suspended after the token was rotated.", None),
    ],
)
def test_sentences_claiming_an_action_are_removed(
    report_3101: Report, summary: str, kept: str | None
) -> None:
    answer = FinalAnswer.model_validate({"summary": summary, "claims": []})
    grounded = ground(answer, Sources.from_report(report_3101), report_3101, load_tree())
    if kept is None:
        assert grounded.summary == summary and not grounded.problems
    else:
        assert grounded.summary == (
            kept or "(The agent's summary claimed actions it cannot take; removed.)"
        )
        assert "claimed an action" in grounded.problems[-1]
