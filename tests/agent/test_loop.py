"""The real ``AsyncOpenAI`` client through the real loop, against the scripted fake server.

Each test scripts the model's turns; the fixture fails a test that leaves one unused or sends
a request the real API would refuse.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.report import Report
from tests.agent.conftest import AgentFactory, CountingStack
from tests.agent.fake_openai import (
    FakeOpenAI,
    Turn,
    final,
    hang,
    rate_limited,
    refusal,
    server_error,
    text,
    tool_calls,
)
from tools.protocols import Stack

FLOW = "middleware.flow[f-inv-01].status"


def answer(cause: str | None = "L3.flow_suspended", *claims: dict[str, Any]) -> Turn:
    layer = 3 if cause and cause.startswith("L3") else None
    return final(
        {
            "verdict": {"layer": layer, "cause": cause},
            "summary": "The inventory flow to NetSuite is suspended, so the sell-out never arrived.",
            "claims": list(claims)
            or [{"text": "The flow is suspended.", "cites": ["E4"], "quote": "suspended"}],
        }
    )


async def explain(
    make_agent: AgentFactory, report: Report, stack: Stack | None, **overrides: Any
) -> Report:
    return await make_agent(**overrides).explain(report, stack, now=report.clock)


async def test_a_tool_call_then_an_answer_explains_the_verdict_and_counts_everything(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        tool_calls(("run_check", {"check_id": "L3.flow_status"})),
        answer(
            "L3.flow_suspended",
            {"text": "The flow has been suspended since 01:00.", "cites": ["T1", FLOW]},
            {"text": "The ERP never received the event.", "cites": ["E5"]},
        ),
    )
    out = await explain(make_agent, report_3101, stack_3101)

    assert out.verdict == report_3101.verdict  # never touched
    run = out.agent
    assert run is not None and run.status == "ok" and run.reason is None
    assert run.cause == "L3.flow_suspended" and run.layer == 3 and run.disagreement is None
    assert [c.grounded for c in run.claims] == [True, True]
    assert out.explanation is not None
    assert f"[T1, {FLOW}]" in out.explanation and "[E5]" in out.explanation
    usage = run.usage
    assert usage is not None
    assert (usage.model, usage.model_calls, usage.tool_calls) == ("fake-model", 2, 1)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert usage.cost_usd > 0

    first, second = fake_openai.requests
    assert first["model"] == "fake-model" and first["tool_choice"] == "auto"
    assert {t["function"]["name"] for t in first["tools"]} >= {"run_check", "read_erp"}
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"].startswith('<tool_output id="T1" tool="run_check" status="ok">')
    assert '"status": "fail"' in tool_message["content"]


async def test_parallel_tool_calls_each_get_their_answer_in_order(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        tool_calls(
            ("read_erp", {}), ("read_middleware", {}), ("read_listing", {"channel": "amazon"})
        ),
        answer(),
    )
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.status == "ok"
    assert out.agent.usage is not None and out.agent.usage.tool_calls == 3
    calls = fake_openai.requests[1]["messages"][-4]["tool_calls"]
    replies = fake_openai.requests[1]["messages"][-3:]
    assert [r["tool_call_id"] for r in replies] == [c["id"] for c in calls]
    assert [r["content"].split('"')[3] for r in replies] == [
        "read_erp",
        "read_middleware",
        "read_listing",
    ]


async def test_an_identical_call_is_answered_from_the_first_result_not_read_again(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    stack = CountingStack(stack_3101)
    fake_openai.script(
        tool_calls(("read_erp", {})),
        tool_calls(("read_erp", {})),
        answer(),
    )
    out = await explain(make_agent, report_3101, stack.stack)
    assert stack.reads == {"erp": 1}
    assert "identical to T1" in fake_openai.requests[2]["messages"][-1]["content"]
    assert out.agent is not None and out.agent.usage is not None
    assert out.agent.usage.tool_calls == 1


async def test_malformed_arguments_are_answered_once_then_end_the_run(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        tool_calls(("run_check", '{"check_id": "L3.flow_status"')),  # cut JSON
        tool_calls(("run_check", {"check": "L3.flow_status"})),  # wrong field
    )
    out = await explain(make_agent, report_3101, stack_3101)
    assert "malformed arguments for run_check" in fake_openai.requests[1]["messages"][-1]["content"]
    assert out.agent is not None and out.agent.status == "fallback"
    assert out.agent.reason == "the model sent malformed tool arguments"
    assert out.explanation is None and out.verdict == report_3101.verdict


async def test_one_malformed_call_is_corrected_and_the_run_goes_on(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        tool_calls(("run_check", "not json")),
        tool_calls(("run_check", {"check_id": "L3.flow_status"})),
        answer("L3.flow_suspended", {"text": "Suspended.", "cites": ["T2"]}),
    )
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.status == "ok"
    assert out.agent.claims[0].grounded


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        (refusal(), "the model refused to answer"),
        (text("partial", finish_reason="content_filter"), "content filter"),
        (server_error(500), "failed (HTTP 500)"),
        (server_error(503), "failed (HTTP 503)"),
        (rate_limited(), "kept rate-limiting us (HTTP 429)"),
    ],
)
async def test_refusals_and_endpoint_errors_fall_back_with_one_line_why(
    fake_openai: FakeOpenAI,
    make_agent: AgentFactory,
    report_3101: Report,
    stack_3101: Stack,
    turn: Turn,
    reason: str,
) -> None:
    fake_openai.script(turn)
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.status == "fallback"
    assert out.agent.reason is not None and reason in out.agent.reason
    assert "\n" not in out.agent.reason
    assert out.explanation is None
    assert out.verdict == report_3101.verdict and out.escalation == report_3101.escalation


async def test_a_wrong_key_falls_back_and_never_shows_the_key(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.api_key = "sk-the-real-one"
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.reason is not None
    assert "refused the API key (HTTP 401)" in out.agent.reason
    assert "sk-test" not in out.model_dump_json()


async def test_the_clients_own_retries_get_past_a_429_and_a_500(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(rate_limited(retry_after_ms=1), answer())
    fake_openai.script(server_error(502, retry_after_ms=1))  # retried by the second run
    first = await explain(make_agent, report_3101, stack_3101, max_retries=2)
    assert first.agent is not None and first.agent.status == "ok"
    assert len(fake_openai.requests) == 2
    fake_openai.script(answer())
    second = await explain(make_agent, report_3101, stack_3101, max_retries=1)
    assert second.agent is not None and second.agent.status == "ok"


async def test_a_model_that_does_not_answer_is_cut_off_by_the_request_timeout(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(hang())
    out = await explain(make_agent, report_3101, stack_3101, timeout_seconds=0.2)
    assert out.agent is not None and out.agent.status == "fallback"
    assert out.agent.reason is not None and "did not answer within 0.2 s" in out.agent.reason


async def test_the_wall_time_budget_bounds_the_whole_run(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(hang())
    out = await explain(make_agent, report_3101, stack_3101, max_seconds=0.2)
    assert out.agent is not None and out.agent.status == "budget_exhausted"
    assert out.agent.reason == "the time budget (0.2 s) ran out"
    assert out.explanation is None


async def test_the_last_step_the_budget_allows_is_an_answer_with_tools_off(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        tool_calls(("read_erp", {})),
        answer("L3.flow_suspended", {"text": "The ERP shows 14.", "cites": ["T1"], "quote": "14"}),
    )
    out = await explain(make_agent, report_3101, stack_3101, max_steps=2)
    last = fake_openai.requests[-1]
    assert last["tool_choice"] == "none" and "parallel_tool_calls" not in last
    assert (
        "Budget: the step budget (2 model calls) is nearly spent" in last["messages"][-1]["content"]
    )
    run = out.agent
    assert run is not None and run.status == "budget_exhausted" and run.summary is not None
    assert run.claims[0].grounded  # the best grounded answer so far, not nothing


async def test_the_tool_call_budget_refuses_calls_past_it(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(tool_calls(("read_erp", {}), ("read_storefront", {})), answer())
    out = await explain(make_agent, report_3101, stack_3101, max_tool_calls=1)
    replies = fake_openai.requests[1]["messages"]
    assert "tool-call budget (1) is spent" in replies[-2]["content"]  # the second call
    assert fake_openai.requests[1]["tool_choice"] == "none"
    assert out.agent is not None and out.agent.usage is not None
    assert out.agent.usage.tool_calls == 1


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        ({"max_tokens": 500}, "the token budget (500 tokens) would be exceeded"),
        ({"max_cost_usd": 0.0}, "the cost budget ($0) would be exceeded"),
    ],
)
async def test_a_run_that_cannot_afford_a_call_makes_none(
    fake_openai: FakeOpenAI,
    make_agent: AgentFactory,
    report_3101: Report,
    stack_3101: Stack,
    budget: dict[str, Any],
    reason: str,
) -> None:
    out = await explain(make_agent, report_3101, stack_3101, **budget)
    assert fake_openai.requests == []
    assert out.agent is not None and out.agent.status == "budget_exhausted"
    assert out.agent.reason == reason


async def test_a_reply_outside_the_output_format_is_repaired_once(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(text("The flow is suspended, I think."), answer())
    out = await explain(make_agent, report_3101, stack_3101)
    assert (
        "not the JSON object of the output format"
        in fake_openai.requests[1]["messages"][-1]["content"]
    )
    assert out.agent is not None and out.agent.status == "ok"


async def test_two_replies_outside_the_output_format_fall_back(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(text("no"), text('{"summary": ""}'))
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.status == "fallback"
    assert out.agent.reason == "the model's answer was not the output format"


async def test_an_endpoint_without_usage_is_estimated(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    turn = answer()
    fake_openai.script(Turn(**{**turn.__dict__, "usage": False}))
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.usage is not None
    assert out.agent.usage.prompt_tokens > 1000  # the system prompt alone is longer


async def test_uncited_and_mis_cited_claims_never_reach_the_explanation(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        answer(
            "L3.flow_suspended",
            {"text": "Grounded claim.", "cites": ["E4"]},
            {"text": "Invented claim.", "cites": []},
            {"text": "Claim citing a result that does not exist.", "cites": ["T7"]},
            {"text": "Claim misquoting its source.", "cites": ["E4"], "quote": "is active"},
        )
    )
    out = await explain(make_agent, report_3101, stack_3101)
    run = out.agent
    assert run is not None and out.explanation is not None
    assert [c.text for c in run.claims] == ["Grounded claim."] and run.held_back_count == 3
    assert [c.problem for c in run.held_back[:3]] == [
        "cites nothing",
        "cites T7, which no source has",
        "the quote is not in E4",
    ]
    assert "Grounded claim." in out.explanation
    for held in ("Invented", "does not exist", "misquoting"):
        assert held not in out.explanation
        assert held not in out.model_dump_json(), "held-back text is in no dump but the store's"
        assert held in out.stored_json(), "kept for audit"
    assert "3 uncited, mis-cited or unsafe claim(s) held back" in out.explanation


async def test_a_different_verdict_is_a_disagreement_and_the_rules_verdict_stands(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(
        final(
            {
                "verdict": {"layer": 3, "cause": "L3.recent_change"},
                "summary": "The credential rotation broke the connector.",
                "claims": [{"text": "A credential rotation happened.", "cites": ["E6"]}],
            }
        )
    )
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.verdict.cause == "L3.flow_suspended" == report_3101.verdict.cause
    assert out.escalation == report_3101.escalation
    run = out.agent
    assert run is not None and run.cause == "L3.recent_change"
    assert run.disagreement is not None
    assert "L3.recent_change" in run.disagreement and "not L3.flow_suspended" in run.disagreement
    assert "secondary cause" in run.disagreement
    assert "verdict stands" in run.disagreement


async def test_an_unknown_cause_code_is_ignored_not_shown_as_a_verdict(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    fake_openai.script(answer("L9.made_up"))
    out = await explain(make_agent, report_3101, stack_3101)
    assert out.agent is not None and out.agent.cause is None


async def test_without_a_stack_only_the_saved_report_is_offered(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report
) -> None:
    fake_openai.script(answer())
    await explain(make_agent, report_3101, None)
    assert [t["function"]["name"] for t in fake_openai.requests[0]["tools"]] == ["get_evidence"]
