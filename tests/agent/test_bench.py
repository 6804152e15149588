"""``bench/agent_eval.py`` runs in CI against the fake oracle and prints its figures."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "agent_eval.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_the_eval_scores_chosen_skus_against_their_expectations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = await _bench().main(["SKU-3101", "SKU-4106", "--runs", "2", "-v"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 scenario(s) × 2 run(s) against the fake OpenAI-compatible server" in out
    assert "model oracle (fake server): 4 triage(s) of 2 scenario(s)" in out
    assert re.search(r"cause accuracy\s+100\.0 %", out)
    assert re.search(r"layer accuracy\s+100\.0 %", out)
    assert "outcomes              ok 4 · budget stop 0 · fallback 0" in out
    assert re.search(r"model calls / triage\s+2\.00", out)
    assert re.search(r"cost / triage\s+\$0\.\d{5} \(total", out)
    assert out.count("    ok  SKU-") == 4


async def test_an_unknown_sku_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _bench().main(["SKU-0000"]) == 2
    assert "not in the scenario library: SKU-0000" in capsys.readouterr().err
