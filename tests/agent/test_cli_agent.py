"""``oos triage`` with and without the agent, as a user runs it (the fake model in a thread)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.cli import main
from tests.agent.fake_openai import API_KEY, FakeOpenAI, final, server_error, tool_calls

SKU = "SKU-3101"


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with fake.in_thread():
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake
    fake.assert_consumed()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_without_a_key_the_report_is_as_before_and_says_so_once_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "triage", SKU, "--sandbox", "--json", "--no-save")
    assert code == 0
    report = json.loads(out)  # stdout is the report alone
    assert report["agent"] is None and report["explanation"] is None
    assert err.count("The agent is off (OPENAI_API_KEY is not set)") == 1


def test_no_agent_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "triage", SKU, "--sandbox", "--no-save", "--no-agent")
    assert code == 0 and err == ""


def test_with_a_key_the_explanation_follows_the_verdict(
    capsys: pytest.CaptureFixture[str], model: FakeOpenAI
) -> None:
    model.script(
        tool_calls(("run_check", {"check_id": "L3.flow_status"})),
        final(
            {
                "verdict": {"layer": 4, "cause": "L4.integration_user_permissions"},
                "summary": "The connector lost its NetSuite login.",
                "claims": [{"text": "The flow failed its health check.", "cites": ["T1"]}],
            }
        ),
    )
    code, out, err = run(capsys, "triage", SKU, "--sandbox", "--no-save")
    assert code == 0 and err == ""
    explained = out.index("Explained")
    assert out.index("Verdict") < explained < out.index("Checks, in the order")
    assert "The flow failed its health check." in out  # the cited claim, not the summary
    assert "The connector lost its NetSuite login." not in out
    assert "Disagrees" in out and "L4.integration_user_permissions" in out
    assert "L3.flow_suspended (confirmed)" in out  # the verdict line is the rules'


def test_json_records_model_calls_tokens_and_cost(
    capsys: pytest.CaptureFixture[str], model: FakeOpenAI
) -> None:
    model.script(
        final(
            {
                "verdict": {"layer": 3, "cause": "L3.flow_suspended"},
                "summary": "Suspended flow.",
                "claims": [{"text": "Suspended.", "cites": ["E4"]}],
            }
        )
    )
    code, out, _err = run(capsys, "triage", SKU, "--sandbox", "--json", "--no-save")
    agent = json.loads(out)["agent"]
    assert code == 0 and agent["status"] == "ok" and agent["disagreement"] is None
    usage = agent["usage"]
    assert usage["model"] == "gpt-4o-mini" and usage["model_calls"] == 1
    assert usage["tool_calls"] == 0 and usage["total_tokens"] > 0 and usage["cost_usd"] > 0


def test_a_failing_endpoint_gives_the_rules_report_and_one_line_why(
    capsys: pytest.CaptureFixture[str], model: FakeOpenAI
) -> None:
    model.script(*[server_error(503, retry_after_ms=1)] * 3)  # the client retries twice
    code, out, err = run(capsys, "triage", SKU, "--sandbox", "--json", "--no-save")
    assert code == 0
    report = json.loads(out)
    assert report["verdict"]["cause"] == "L3.flow_suspended"
    assert report["agent"]["status"] == "fallback" and report["explanation"] is None
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "No explanation" in lines[0] and "HTTP 503" in lines[0]
