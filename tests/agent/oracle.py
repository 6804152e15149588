"""The "oracle" policy for the fake server: a model that knows each scenario's expected verdict.

It works the way a good model would — first turn: run the check that proves the expected cause
and fetch the evidence package (two parallel tool calls); second turn: the final JSON answer,
its claims citing the tool results it was given (``T1``, the facts ``run_check`` returned, the
evidence ids). Its verdict is the scenario's expectation, so the benchmark can run the whole
pipeline (tools, masking, grounding, budgets, accounting) in CI without a real model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.tree import Tree
from tests.agent.fake_openai import Policy, Turn, final, tool_calls
from tools.sandbox.scenario import Expected

_OUTPUT = re.compile(
    r'<tool_output id="(?P<id>T\d+)" tool="(?P<tool>\w+)" status="(?P<status>\w+)">\n'
    r"(?P<data>.*?)\n</tool_output>",
    re.DOTALL,
)
_SKU = re.compile(r'"sku": "(?P<sku>[^"]+)"')


def _outputs(messages: list[dict[str, Any]]) -> list[tuple[str, str, str, Any]]:
    found = []
    for m in messages:
        if m.get("role") != "tool":
            continue
        match = _OUTPUT.search(str(m.get("content")))
        if match is None:
            continue
        try:
            data = json.loads(match["data"])
        except json.JSONDecodeError:
            continue  # cut at the size cap: not citable as a whole
        found.append((match["id"], match["tool"], match["status"], data))
    return found


def oracle_policy(expected: Mapping[str, Expected], tree: Tree) -> Policy:
    proving = {c.cause: c.id for c in tree.checks}

    def policy(body: dict[str, Any]) -> Turn:
        messages = body["messages"]
        user = next(m["content"] for m in messages if m["role"] == "user")
        sku = _SKU.search(user)
        exp = expected.get(sku["sku"]) if sku else None
        outputs = _outputs(messages)
        may_call = bool(body.get("tools")) and body.get("tool_choice") != "none"
        if exp is not None and not outputs and may_call:
            calls: list[tuple[str, dict[str, Any] | str]] = [("get_evidence", {"ids": []})]
            if exp.cause in proving:
                calls.insert(0, ("run_check", {"check_id": proving[exp.cause]}))
            return tool_calls(*calls)
        claims: list[dict[str, Any]] = []
        for result_id, tool, status, data in outputs:
            if tool == "run_check" and status == "ok":
                facts = [f["id"] for f in data.get("facts", [])][:2]
                claims.append(
                    {
                        "text": f"{data['check_id']} {data['status']}: {data['detail']}"[:700],
                        "cites": [result_id, *facts],
                        "quote": data["status"],
                    }
                )
            elif tool == "get_evidence" and status == "ok":
                for item in data.get("evidence", [])[:2]:
                    claims.append({"text": item["statement"][:700], "cites": [item["id"]]})
        if exp is None:
            return final({"verdict": None, "summary": "I cannot tell from this.", "claims": []})
        verdict = {"layer": exp.layer, "cause": exp.cause}
        words = exp.cause or ("in sync" if exp.pattern == "in_sync" else "not proven")
        return final(
            {
                "verdict": verdict,
                "summary": f"The evidence points to {words} for {sku['sku'] if sku else 'this SKU'}.",
                "claims": claims,
            }
        )

    return policy
