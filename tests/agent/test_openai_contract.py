"""The fake server and the loop against OpenAI's own OpenAPI document (``../shared/specs``).

The fake's completions and error bodies must be what the spec says the API returns, and the
requests the loop sends (messages of every role, tools) what the spec says it accepts — so
the fake cannot drift into a dialect only our client understands. Schemas are cut out of the
3 MB document by name and checked with a small validator (type, enum, required, properties,
items, anyOf/oneOf/allOf, $ref).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.report import Report
from tests.agent.conftest import AgentFactory
from tests.agent.fake_openai import (
    FakeOpenAI,
    final,
    rate_limited,
    refusal,
    server_error,
    tool_calls,
)
from tools.protocols import Stack

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openai" / "openapi.yaml"

pytestmark = pytest.mark.skipif(
    not SPEC.is_file(), reason=f"OpenAI's OpenAPI document is not at {SPEC} (the shared/ folder)"
)


@cache
def _text() -> str:
    return SPEC.read_text(encoding="utf-8")


@cache
def schema(name: str) -> dict[str, Any]:
    text = _text()
    start = text.index(f"\n    {name}:\n") + 1
    end = re.compile(r"\n    \S").search(text, start + len(name) + 6)
    block = text[start : end.start() if end else len(text)]
    parsed: dict[str, Any] = yaml.safe_load(block)[name]
    return parsed


def problems(value: Any, s: dict[str, Any], where: str = "$") -> list[str]:
    if "$ref" in s:
        return problems(value, schema(s["$ref"].rsplit("/", 1)[-1]), where)
    for key in ("anyOf", "oneOf"):
        if key in s:
            if any(not problems(value, option, where) for option in s[key]):
                return []
            return [f"{where}: matches none of {key}"]
    out: list[str] = []
    for part in s.get("allOf", []):
        out += problems(value, part, where)
    kind = s.get("type")
    types = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
        "null": type(None),
    }
    wrong = kind is not None and not isinstance(value, types[kind])
    if wrong or (kind == "integer" and isinstance(value, bool)):
        return [*out, f"{where}: {type(value).__name__} is not {kind}"]
    if "enum" in s and value not in s["enum"]:
        out.append(f"{where}: {value!r} not in {s['enum']}")
    if isinstance(value, dict):
        out += [f"{where}: missing {k}" for k in s.get("required", []) if k not in value]
        for k, sub in s.get("properties", {}).items():
            if k in value:
                out += problems(value[k], sub, f"{where}.{k}")
    if isinstance(value, list) and "items" in s:
        for i, item in enumerate(value):
            out += problems(item, s["items"], f"{where}[{i}]")
    return out


MESSAGE_SCHEMAS = {
    "system": "ChatCompletionRequestSystemMessage",
    "user": "ChatCompletionRequestUserMessage",
    "assistant": "ChatCompletionRequestAssistantMessage",
    "tool": "ChatCompletionRequestToolMessage",
}


async def test_completions_errors_and_requests_follow_the_spec(
    fake_openai: FakeOpenAI, make_agent: AgentFactory, report_3101: Report, stack_3101: Stack
) -> None:
    answer = {"verdict": None, "summary": "s", "claims": []}
    turns = [
        tool_calls(("run_check", {"check_id": "L3.flow_status"}), ("read_erp", {})),
        final(answer),
        refusal(),
    ]
    responses = [fake_openai._completion({"model": "m", "messages": []}, t) for t in turns]
    for response in responses:
        assert problems(response, schema("CreateChatCompletionResponse")) == []
    for turn in (rate_limited(), server_error(503)):
        assert problems(turn.error, schema("ErrorResponse")) == []

    fake_openai.script(turns[0], final(answer))
    await make_agent().explain(report_3101, stack_3101, now=report_3101.clock)
    for body in fake_openai.requests:
        for tool in body["tools"]:
            assert problems(tool, schema("ChatCompletionTool")) == [], json.dumps(tool)[:200]
        for message in body["messages"]:
            found = problems(message, schema(MESSAGE_SCHEMAS[message["role"]]))
            assert found == [], (message["role"], found)
        assert problems(body["tool_choice"], schema("ChatCompletionToolChoiceOption")) == []


def test_the_validator_catches_what_the_spec_forbids() -> None:
    bad = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{}]}
    found = problems(bad, schema("CreateChatCompletionResponse"))
    assert "$.choices[0]: missing finish_reason" in found
    assert problems({"error": {"message": "m"}}, schema("ErrorResponse"))
