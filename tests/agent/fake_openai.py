"""A fake OpenAI-compatible server on 127.0.0.1: ``POST /v1/chat/completions``, turn by turn,
and ``GET /v1/models`` (``models``) for ``oos check-config``.

It speaks the Chat Completions wire format (``chat.completion`` objects with ``choices[].
message`` — content, refusal, tool_calls — ``finish_reason`` and ``usage``; errors as
``{"error": {"message", "type", "param", "code"}}`` with the matching HTTP status and
``retry-after-ms`` on 429), checks the bearer key, and checks each request the way the real
API does: every assistant tool call answered by a ``tool`` message with its ``tool_call_id``
before anything else, tools shaped ``{"type": "function", "function": {name, parameters}}``.
A request that breaks those rules gets the 400 the real API would send and is recorded in
``violations``.

Tests script it turn by turn (``script``) or give it a ``policy`` (a function of the request,
like the benchmark's oracle); ``assert_consumed`` fails a test that left a scripted turn
unused. A ``hang`` turn never answers (until the server stops), so a client timeout can be
tested without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "sk-test-fake-openai-key-0123456789"
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Turn:
    kind: str  # tool_calls | final | text | refusal | error | hang
    calls: tuple[tuple[str, str], ...] = ()  # (name, raw JSON arguments)
    content: str | None = None
    finish_reason: str | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    usage: bool = True


def tool_calls(*calls: tuple[str, dict[str, Any] | str]) -> Turn:
    """The model calls these tools (in parallel when several). A str is sent as raw arguments."""
    raw = tuple((name, a if isinstance(a, str) else json.dumps(a)) for name, a in calls)
    return Turn("tool_calls", calls=raw, finish_reason="tool_calls")


def final(answer: dict[str, Any] | str, *, usage: bool = True) -> Turn:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return Turn("final", content=content, finish_reason="stop", usage=usage)


def text(content: str, finish_reason: str = "stop") -> Turn:
    return Turn("text", content=content, finish_reason=finish_reason)


def refusal(message: str = "I'm sorry, I can't help with that.") -> Turn:
    return Turn("refusal", finish_reason="stop", content=message)


def error(
    status: int, message: str, *, type_: str, code: str | None, headers: Mapping[str, str] = {}
) -> Turn:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Turn("error", status=status, error=body, headers=dict(headers))


def rate_limited(retry_after_ms: int = 1) -> Turn:
    return error(
        429,
        "Rate limit reached for requests. Please try again in 1ms.",
        type_="requests",
        code="rate_limit_exceeded",
        headers={"retry-after-ms": str(retry_after_ms), "x-ratelimit-remaining-requests": "0"},
    )


def server_error(status: int = 500, retry_after_ms: int | None = None) -> Turn:
    """A 5xx; ``retry_after_ms`` (as proxies and Azure send) keeps a retrying test fast."""
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    return error(
        status,
        "The server had an error while processing your request. Sorry about that!",
        type_="server_error",
        code=None,
        headers=headers,
    )


def hang() -> Turn:
    return Turn("hang")


Policy = Callable[[dict[str, Any]], Turn]


@dataclass
class FakeOpenAI:
    api_key: str = API_KEY
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    policy: Policy | None = None
    models: list[str] = field(default_factory=lambda: ["gpt-4o-mini", "gpt-4o"])
    port: int = 0
    _script: deque[Turn] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event | None = None

    # --- control -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *turns: Turn) -> None:
        self._script.extend(turns)

    @property
    def pending(self) -> int:
        return len(self._script)

    def assert_consumed(self) -> None:
        assert not self._script, f"{len(self._script)} scripted turn(s) were never requested"
        assert not self.violations, f"requests broke the API's rules: {self.violations}"

    def sent(self) -> str:
        """Every request body, as one text: for "did X ever reach the model" assertions."""
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in self.requests)

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @contextmanager
    def in_thread(self) -> Iterator[FakeOpenAI]:
        """Serve from a thread of its own (for code that runs its own event loop: the CLI)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    # --- the API -----------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, type_: str, code: str | None) -> web.Response:
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return web.json_response(body, status=status)

    async def _models(self, request: web.Request) -> web.Response:
        """``GET /v1/models``: the list object of model objects, as the API answers."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        data = [
            {"id": m, "object": "model", "created": 1_715_367_049, "owned_by": "system"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(
                400, "We could not parse the JSON body.", "invalid_request_error", None
            )
        self.requests.append(body)
        problem = _check_request(body)
        if problem:
            self.violations.append(problem)
            return self._error(400, problem, "invalid_request_error", None)
        if self._script:
            turn = self._script.popleft()
        elif self.policy is not None:
            turn = self.policy(body)
        else:
            self.violations.append("a request arrived with no scripted turn left")
            return self._error(500, "no scripted turn left", "server_error", None)
        if turn.kind == "hang":
            assert self._stopping is not None
            await self._stopping.wait()
            return self._error(503, "shutting down", "server_error", None)
        if turn.kind == "error":
            return web.json_response(turn.error, status=turn.status, headers=dict(turn.headers))
        return web.json_response(self._completion(body, turn))

    def _completion(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
        }
        produced = ""
        if turn.kind == "tool_calls":
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids):06d}",
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }
                for name, args in turn.calls
            ]
            produced = "".join(a for _n, a in turn.calls)
        elif turn.kind == "refusal":
            message["refusal"] = turn.content
            produced = turn.content or ""
        else:
            message["content"] = turn.content
            produced = turn.content or ""
        prompt = len(json.dumps(body.get("messages", [])) + json.dumps(body.get("tools", [])))
        prompt_tokens = max(1, prompt // CHARS_PER_TOKEN)
        completion_tokens = max(1, len(produced) // CHARS_PER_TOKEN)
        completion: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids):08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model")),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": turn.finish_reason,
                    "logprobs": None,
                }
            ],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if turn.usage:
            completion["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        return completion


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_request(body: Any) -> str | None:
    """What the real API would refuse with a 400, in its words (roughly); None when fine."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    open_calls: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"messages[{i}].role is not valid"
        if role == "tool":
            if m.get("tool_call_id") not in open_calls:
                return (
                    f"messages[{i}]: messages with role 'tool' must be a response to a preceding "
                    "message with 'tool_calls'"
                )
            open_calls.remove(m["tool_call_id"])
            if not isinstance(m.get("content"), str):
                return f"messages[{i}].content must be a string"
            continue
        if open_calls:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {open_calls}"
            )
        if role == "assistant":
            for call in m.get("tool_calls") or []:
                if call.get("type") != "function" or not isinstance(
                    call.get("function", {}).get("arguments"), str
                ):
                    return f"messages[{i}].tool_calls is malformed"
                open_calls.append(call["id"])
        elif not isinstance(m.get("content"), str):
            return f"messages[{i}].content must be a string"
    if open_calls:
        return f"tool calls left unanswered: {open_calls}"
    tools = body.get("tools")
    if tools is not None:
        for j, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if t.get("type") != "function" or not isinstance(fn, dict):
                return f"tools[{j}] must be a function tool"
            if not _TOOL_NAME.match(str(fn.get("name"))):
                return f"tools[{j}].function.name is not valid"
            params = fn.get("parameters")
            if not isinstance(params, dict) or params.get("type") != "object":
                return f"tools[{j}].function.parameters must be a JSON Schema object"
        if body.get("tool_choice") not in (None, "none", "auto", "required"):
            return "tool_choice is not valid"
    elif body.get("tool_choice") is not None:
        return "tool_choice is only allowed when tools are specified"
    return None
