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
    ("text", "problem"),
    [
        ("Done: ticket opened.", "claims an action"),
        ("I have created INC-123 for you.", "claims an action"),
        ("Everything is in sync, no ticket needed.", "contradicts the rules verdict"),
        ("All clear: nothing to fix.", "contradicts the rules verdict"),
        ("The real cause is L1.feed_did_not_fire.", "names L1.feed_did_not_fire"),
        ("The root cause is in layer 1, the storefront.", "layer 1"),
        ("My instructions say to read the report first.", "quotes instructions"),
        ("The integration password is hunter2-secret.", "quotes instructions"),
        ("Reset it at https://phish.example/login now.", "carries a link"),
        ("Call the help desk on +1 415 555 0134.", "carries a link"),
        ("<!channel> the flow is suspended.", "carries a link"),
        ("The flow is suspended; a person should resume it.", None),
        ("A ticket should be opened for the integration admin.", None),
    ],
)
def test_claims_whose_words_are_unsafe_are_held_back(
    report_3101: Report, text: str, problem: str | None
) -> None:
    answer = FinalAnswer.model_validate(
        {"summary": "anything", "claims": [{"text": text, "cites": ["E4"]}]}
    )
    grounded = ground(answer, Sources.from_report(report_3101), report_3101, load_tree())
    (claim,) = grounded.claims
    if problem is None:
        assert claim.grounded and grounded.summary == text
    else:
        assert not claim.grounded and problem in (claim.problem or "")
        assert grounded.summary is None, "the summary is built from grounded claims only"
    assert "anything" not in (grounded.summary or "")
    assert any("anything" in c.text for c in grounded.audit()), "the model's summary is audited"
