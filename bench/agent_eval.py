"""Agent evaluation: the scenario library through the LLM agent, scored against expectations.

For every scenario (or the SKUs named), N times: the rules engine triages it, the agent
explains it, and the agent's own reading (layer, cause) is compared with what the scenario
expects and with the rules verdict. Prints, per model: accuracy of layer and cause,
disagreements with the rules engine, fallbacks and budget stops, model calls, tool calls,
tokens, estimated cost and latency per triage.

    python bench/agent_eval.py                      # every scenario, once
    python bench/agent_eval.py SKU-3101 SKU-3102 --runs 5
    python bench/agent_eval.py --model gpt-4o-mini --model gpt-4.1-mini

With ``OPENAI_API_KEY`` set it uses the configured endpoint (``OPENAI_BASE_URL``: OpenAI,
Azure OpenAI, Ollama, vLLM…); without it, or with ``--fake``, it starts the fake
OpenAI-compatible server on 127.0.0.1 with the scripted "oracle" policy (a model that knows
each scenario's expectation), so it runs in CI and proves the pipeline — tools, masking,
grounding, budgets, accounting — end to end. Costs use the prices given (USD per million
tokens; the defaults are the config's).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.agent (the fake)

from bot.agent.setup import open_agent
from bot.compose import sandbox_target
from bot.config import AgentConfig
from bot.engine import triage
from bot.tree import load_tree
from tests.agent.fake_openai import API_KEY, FakeOpenAI
from tests.agent.oracle import oracle_policy
from tools.sandbox.scenario import load_library


@dataclass(frozen=True)
class Run:
    sku: str
    status: str
    layer_ok: bool
    cause_ok: bool
    disagrees: bool
    model_calls: int
    tool_calls: int
    tokens: int
    cost_usd: float
    seconds: float


async def _one(sku: str, config: AgentConfig, env: dict[str, str]) -> Run:
    scenario = load_library()[sku]
    target = sandbox_target(sku)
    agent, why = open_agent(config, env)
    if agent is None:
        raise SystemExit(f"agent_eval: the agent is off: {why}")
    try:
        report = await triage(sku, target.stack, now=target.clock)
        started = time.perf_counter()
        out = await agent.explain(report, target.stack, now=target.clock)
        seconds = time.perf_counter() - started
    finally:
        await agent.aclose()
        await target.aclose()
    run, exp = out.agent, scenario.expected
    assert run is not None
    usage = run.usage
    answered = run.summary is not None
    return Run(
        sku=sku,
        status=run.status,
        layer_ok=answered and run.layer == exp.layer,
        cause_ok=answered and run.cause == exp.cause,
        disagrees=run.disagreement is not None,
        model_calls=usage.model_calls if usage else 0,
        tool_calls=usage.tool_calls if usage else 0,
        tokens=usage.total_tokens if usage else 0,
        cost_usd=usage.cost_usd if usage else 0.0,
        seconds=seconds,
    )


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "   n/a"


def report(model: str, runs: list[Run], verbose: bool) -> None:
    n = len(runs)
    statuses = Counter(r.status for r in runs)
    lat = sorted(r.seconds for r in runs)
    p95 = lat[min(n - 1, round(0.95 * (n - 1)))]
    print(f"\nmodel {model}: {n} triage(s) of {len({r.sku for r in runs})} scenario(s)")
    print(f"  layer accuracy        {_pct(sum(r.layer_ok for r in runs), n)}")
    print(f"  cause accuracy        {_pct(sum(r.cause_ok for r in runs), n)}")
    print(f"  disagreements         {sum(r.disagrees for r in runs)} with the rules engine")
    print(
        f"  outcomes              ok {statuses['ok']} · budget stop {statuses['budget_exhausted']}"
        f" · fallback {statuses['fallback']}"
    )
    print(f"  model calls / triage  {statistics.mean(r.model_calls for r in runs):.2f}")
    print(f"  tool calls / triage   {statistics.mean(r.tool_calls for r in runs):.2f}")
    print(f"  tokens / triage       {statistics.mean(r.tokens for r in runs):,.0f}")
    cost = sum(r.cost_usd for r in runs)
    print(f"  cost / triage         ${cost / n:.5f} (total ${cost:.4f}, estimated)")
    print(f"  latency / triage      median {statistics.median(lat):.3f} s · p95 {p95:.3f} s")
    if verbose:
        for r in runs:
            mark = "ok " if r.cause_ok else "MISS"
            print(f"    {mark} {r.sku:<10} {r.status:<17} {r.tokens:>6} tok {r.seconds:.3f} s")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("skus", nargs="*", help="scenario SKUs (default: the whole library)")
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario")
    parser.add_argument("--model", action="append", help="model name (repeat to compare)")
    parser.add_argument("--fake", action="store_true", help="use the fake oracle even with a key")
    parser.add_argument("--price-in", type=float, help="USD per million input tokens")
    parser.add_argument("--price-out", type=float, help="USD per million output tokens")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per triage")
    args = parser.parse_args(argv)
    # The sandbox's unreadable systems log their faults; the figures are the point here.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    library = load_library()
    skus = args.skus or sorted(library)
    unknown = [s for s in skus if s not in library]
    if unknown:
        print(f"agent_eval: not in the scenario library: {', '.join(unknown)}", file=sys.stderr)
        return 2
    base = AgentConfig()
    prices = {
        "price_per_million_input_tokens": args.price_in or base.price_per_million_input_tokens,
        "price_per_million_output_tokens": args.price_out or base.price_per_million_output_tokens,
    }
    real = bool(os.environ.get("OPENAI_API_KEY")) and not args.fake
    fake: FakeOpenAI | None = None
    if real:
        env = dict(os.environ)
        models = args.model or [base.model]
        where = os.environ.get("OPENAI_BASE_URL") or "OpenAI"
    else:
        expected = {sku: s.expected for sku, s in library.items()}
        fake = FakeOpenAI(policy=oracle_policy(expected, load_tree()))
        await fake.start()
        env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": fake.base_url}
        models = ["oracle (fake server)"]
        where = f"the fake OpenAI-compatible server at {fake.base_url}"
    print(f"agent_eval: {len(skus)} scenario(s) × {args.runs} run(s) against {where}")
    try:
        for model in models:
            config = AgentConfig(model=model, **prices)
            runs = [await _one(sku, config, env) for sku in skus for _ in range(args.runs)]
            report(model, runs, args.verbose)
    finally:
        if fake is not None:
            await fake.stop()
    if fake is not None and fake.violations:
        print(f"agent_eval: requests the real API would refuse: {fake.violations}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
