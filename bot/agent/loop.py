"""The tool-calling loop over the Chat Completions API (``AsyncOpenAI``).

One run: ask the model; run the tools it calls (concurrently, through the ``Toolbox``); give
it the results; repeat until it replies with the final JSON answer or a budget runs out. The
client retries 429/5xx and times out by itself (``max_retries``, ``timeout``: set explicitly
where the client is built); the loop adds the run's budgets on top:

- the last call a budget allows is made with tools switched off (``tool_choice: none``) and a
  note to answer now, so a spent step, tool-call, token or cost budget still ends with the
  best grounded answer the model can give from what it has read;
- the whole run sits inside ``asyncio.timeout(max_seconds)``, and each request's timeout is
  cut to what is left of it, so the model never delays a triage past its budget.

Everything that makes an answer impossible — a refused key, a rate limit or server error the
client's retries did not get past, a timeout, malformed tool arguments (twice), a refusal, a
reply that is not the output format (twice) — ends the run with a one-line reason, never an
exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI

from bot.agent.answer import AnswerError, FinalAnswer, parse_answer
from bot.agent.budget import Meter, estimate_tokens
from bot.agent.messages import Message
from bot.agent.tools import Toolbox, ToolCall
from bot.config import AgentConfig
from bot.privacy import Masker

log = logging.getLogger(__name__)

MAX_MALFORMED = 1  # malformed tool arguments answered with an error before the run gives up
MAX_REPAIRS = 1  # replies that are not the output format before the run gives up


@dataclass(frozen=True)
class LoopResult:
    """``answer`` when the model gave one; ``stopped`` names the budget that cut the run short;
    ``failed`` says, in one line, why there is no answer at all."""

    answer: FinalAnswer | None
    stopped: str | None = None
    failed: str | None = None


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _endpoint(client: AsyncOpenAI) -> str:
    return urlsplit(str(client.base_url)).netloc or str(client.base_url)


def describe_error(exc: Exception, client: AsyncOpenAI, config: AgentConfig) -> str:
    """One line on why the model could not answer. Never the key, never the body's secrets."""
    where = _endpoint(client)
    retries = f" after {config.max_retries} retries" if config.max_retries else ""
    if isinstance(exc, openai.AuthenticationError):
        return f"the model endpoint {where} refused the API key (HTTP 401); check OPENAI_API_KEY"
    if isinstance(exc, openai.PermissionDeniedError):
        return f"the model endpoint {where} denied access (HTTP 403)"
    if isinstance(exc, openai.RateLimitError):
        return f"the model endpoint {where} kept rate-limiting us (HTTP 429){retries}"
    if isinstance(exc, openai.NotFoundError):
        return f"the model endpoint {where} does not know model {config.model!r} (HTTP 404)"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return f"the model endpoint {where} failed (HTTP {exc.status_code}){retries}"
        return f"the model endpoint {where} rejected the request (HTTP {exc.status_code})"
    if isinstance(exc, openai.APITimeoutError):
        return f"the model endpoint {where} did not answer within {config.timeout_seconds:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return f"the model endpoint {where} could not be reached"
    if isinstance(exc, openai.APIResponseValidationError):
        return f"the model endpoint {where} sent a response that is not the Chat Completions shape"
    return f"the agent failed ({type(exc).__name__})"


def _assistant_message(content: str | None, calls: list[ToolCall]) -> Message:
    message: Message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    return message


class Loop:
    """One agent run over ``messages`` with ``toolbox``, spending ``meter``."""

    def __init__(
        self,
        client: AsyncOpenAI,
        config: AgentConfig,
        toolbox: Toolbox,
        meter: Meter,
        masker: Masker,
    ) -> None:
        self.client = client
        self.config = config
        self.toolbox = toolbox
        self.meter = meter
        self.masker = masker
        self._tool_tokens = estimate_tokens(json.dumps(toolbox.specs()))
        self._wrap_up: str | None = None

    async def run(self, messages: list[Message]) -> LoopResult:
        try:
            async with asyncio.timeout(max(0.0, self.meter.remaining_seconds)):
                return await self._run(messages)
        except TimeoutError:
            return LoopResult(
                None, stopped=f"the time budget ({self.config.max_seconds:g} s) ran out"
            )
        except _Failed as exc:
            return LoopResult(None, failed=exc.reason)
        except openai.OpenAIError as exc:
            if isinstance(exc, openai.APITimeoutError) and self.meter.remaining_seconds <= 0.05:
                return LoopResult(
                    None, stopped=f"the time budget ({self.config.max_seconds:g} s) ran out"
                )
            reason = describe_error(exc, self.client, self.config)
            log.warning("agent: %s", self.masker.mask(f"{reason}: {exc}"))
            return LoopResult(None, failed=reason)

    def _final_call_reason(self, next_prompt: int) -> str | None:
        """Why the coming call must be the last one (tools off, answer now), if it must."""
        c, m = self.config, self.meter
        if m.model_calls >= c.max_steps - 1:
            return f"the step budget ({c.max_steps} model calls) is nearly spent"
        if (why := m.tools_exhausted()) is not None:
            return why
        if self.toolbox.stuck:
            return "the same tool calls keep repeating"
        one_more = next_prompt + c.max_output_tokens
        if m.total_tokens + 2 * one_more > c.max_tokens:
            return f"the token budget ({c.max_tokens}) allows one more call"
        per_call = (
            next_prompt * c.price_per_million_input_tokens
            + c.max_output_tokens * c.price_per_million_output_tokens
        ) / 1_000_000
        if m.cost_usd + 2 * per_call > c.max_cost_usd:
            return f"the cost budget (${c.max_cost_usd:g}) allows one more call"
        return None

    async def _call(self, messages: list[Message], final: bool) -> Any:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_completion_tokens": self.config.max_output_tokens,
            "timeout": max(0.05, min(self.config.timeout_seconds, self.meter.remaining_seconds)),
        }
        if self.toolbox.tools:
            kwargs["tools"] = self.toolbox.specs()
            kwargs["tool_choice"] = "none" if final else "auto"
            if not final:
                kwargs["parallel_tool_calls"] = True
        return await self.client.chat.completions.create(**kwargs)

    async def _run(self, messages: list[Message]) -> LoopResult:
        repairs = 0
        while True:
            next_prompt = estimate_tokens(json.dumps(messages, default=str)) + self._tool_tokens
            if (why := self.meter.exhausted(next_prompt_tokens=next_prompt)) is not None:
                return LoopResult(None, stopped=why)
            if self._wrap_up is None and (why := self._final_call_reason(next_prompt)):
                self._wrap_up = why
                if self.meter.model_calls > 0:
                    messages.append(
                        {
                            "role": "user",
                            "content": f"Budget: {why}. Do not call tools. Reply now with the "
                            "JSON object of the output format, from what you have read.",
                        }
                    )
            final = self._wrap_up is not None
            response = await self._call(messages, final)
            choice = response.choices[0] if response.choices else None
            message = choice.message if choice is not None else None
            content = (message.content if message is not None else None) or ""
            calls = [
                ToolCall(tc.id, tc.function.name, tc.function.arguments)
                for tc in ((message.tool_calls if message is not None else None) or [])
                if tc.type == "function"
            ]
            usage = response.usage
            if usage is not None:
                self.meter.record_call(
                    usage.prompt_tokens, usage.completion_tokens, estimated=False
                )
            else:
                produced = content + "".join(c.arguments for c in calls)
                self.meter.record_call(next_prompt, estimate_tokens(produced), estimated=True)
            if choice is None or message is None:
                raise _Failed("the model endpoint answered with no choices")
            if message.refusal:
                raise _Failed("the model refused to answer")
            if choice.finish_reason == "content_filter":
                raise _Failed("the model's content filter stopped the answer")

            if calls and not final:
                messages.append(_assistant_message(message.content, calls))
                results = await self.toolbox.run(calls)
                messages += [
                    {"role": "tool", "tool_call_id": r.call_id, "content": r.text} for r in results
                ]
                if self.toolbox.malformed > MAX_MALFORMED:
                    raise _Failed("the model sent malformed tool arguments")
                continue
            if calls:
                return LoopResult(
                    None, stopped=f"{self._wrap_up}, and the model kept calling tools"
                )
            try:
                answer = parse_answer(content)
            except AnswerError as exc:
                cut = " (cut at max_output_tokens)" if choice.finish_reason == "length" else ""
                if repairs >= MAX_REPAIRS or final:
                    raise _Failed(f"the model's answer was not the output format{cut}") from None
                repairs += 1
                messages.append({"role": "assistant", "content": content})
                messages.append(
                    {
                        "role": "user",
                        "content": f"That reply is not the JSON object of the output format "
                        f"({exc}){cut}. Reply with only that JSON object.",
                    }
                )
                continue
            return LoopResult(answer, stopped=self._wrap_up)
