"""The agent's budgets per run, and the meter that spends them.

A run (one triage explained, or one thread question answered) may use at most ``max_steps``
model calls, ``max_tool_calls`` tool calls, ``max_seconds`` of wall time, ``max_tokens``
tokens and ``max_cost_usd`` dollars (estimated from the configured prices). The loop asks
``Meter.exhausted()`` before every model call and every tool call; the first budget that runs
out ends the run, which then returns its best grounded answer so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.config import AgentConfig
from bot.report import AgentUsage

# A rough characters-per-token ratio for estimates before a call (and when an endpoint
# reports no usage). Real tokenizers average about 4 characters per token on English and JSON.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


@dataclass
class Meter:
    """What a run has spent so far, against its ``AgentConfig`` budgets."""

    config: AgentConfig
    started: float = field(default_factory=time.monotonic)
    model_calls: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining_seconds(self) -> float:
        return self.config.max_seconds - self.seconds

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_usd(self) -> float:
        c = self.config
        return (
            self.prompt_tokens * c.price_per_million_input_tokens
            + self.completion_tokens * c.price_per_million_output_tokens
        ) / 1_000_000

    def record_call(self, prompt_tokens: int, completion_tokens: int, *, estimated: bool) -> None:
        self.model_calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.usage_estimated |= estimated

    def exhausted(self, *, next_prompt_tokens: int = 0) -> str | None:
        """Which budget stops another model call, in words; None while every budget allows it.

        ``next_prompt_tokens`` (an estimate of the next request) keeps a call that would
        overshoot the token or cost budget from being made at all.
        """
        c = self.config
        if self.model_calls >= c.max_steps:
            return f"the step budget ({c.max_steps} model calls) is spent"
        if self.remaining_seconds <= 0:
            return f"the time budget ({c.max_seconds:g} s) is spent"
        projected = self.total_tokens + next_prompt_tokens + c.max_output_tokens
        if projected > c.max_tokens:
            return f"the token budget ({c.max_tokens} tokens) would be exceeded"
        next_cost = (
            next_prompt_tokens * c.price_per_million_input_tokens
            + c.max_output_tokens * c.price_per_million_output_tokens
        ) / 1_000_000
        if self.cost_usd + next_cost > c.max_cost_usd:
            return f"the cost budget (${c.max_cost_usd:g}) would be exceeded"
        return None

    def tools_exhausted(self) -> str | None:
        if self.tool_calls >= self.config.max_tool_calls:
            return f"the tool-call budget ({self.config.max_tool_calls}) is spent"
        return None

    def usage(self, model: str) -> AgentUsage:
        return AgentUsage(
            model=model,
            model_calls=self.model_calls,
            tool_calls=self.tool_calls,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cost_usd=round(self.cost_usd, 6),
            seconds=round(self.seconds, 3),
        )
