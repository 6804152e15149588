"""Tools for the model, generated from typed Python functions — and the one place they run.

``tool(fn)`` turns ``async def name(ctx, arg: T = default) -> R`` into a ``Tool``: the JSON
schema of its parameters comes from the signature (through a pydantic model, so the model's
arguments are validated by the same types), the description from the docstring (or from the
docstring of the protocol method it forwards to). Nothing else describes a tool, so the schema
cannot drift from the code.

``Toolbox`` runs the model's tool calls: arguments validated, identical repeated calls answered
from the first result instead of run again, the tool-call budget enforced, each result masked
(personal data, then secrets), capped in size and wrapped as delimited data
(``<tool_output id="T3" …>…</tool_output>``) that the instructions say is never to be obeyed.
There are only read tools: a name the toolbox does not know — ``create_ticket``, say — is
answered with an error and recorded in ``refused``; nothing is called.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from bot.agent.budget import Meter
from bot.privacy import Masker
from tools.errors import AdapterError

log = logging.getLogger(__name__)

ToolStatus = Literal["ok", "error", "no_data"]
MAX_REPEATS = 3  # identical calls answered from memory before the run is judged stuck


class ToolError(Exception):
    """A tool could not answer; the message is for the model (and is masked like data)."""


class NoData(Exception):
    """The question is valid but there is nothing to show (e.g. no WMS is connected)."""


def to_jsonable(value: Any) -> Any:
    """Models as JSON-ready dicts without the vendor's raw payload; datetimes as ISO text."""
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json", exclude={"raw"}))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items() if k != "raw"}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


ToolFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: type[BaseModel]
    fn: ToolFn

    def spec(self) -> dict[str, Any]:
        """The Chat Completions ``tools[]`` entry."""
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        schema["additionalProperties"] = False
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }

    def described(self, more: str) -> Tool:
        return Tool(self.name, f"{self.description} {more}".strip(), self.params, self.fn)


def tool(doc_from: Callable[..., Any] | None = None) -> Callable[[ToolFn], Tool]:
    """Make a ``Tool`` of ``async def fn(ctx, ...)``; ``doc_from`` lends its docstring."""

    def make(fn: ToolFn) -> Tool:
        hints = get_type_hints(fn, include_extras=True)
        fields: dict[str, Any] = {}
        for i, (name, param) in enumerate(inspect.signature(fn).parameters.items()):
            if i == 0:
                continue  # the context, supplied by the toolbox
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints[name], default)
        params = create_model(
            f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        doc = inspect.getdoc(doc_from if doc_from is not None else fn) or ""
        return Tool(fn.__name__, " ".join(doc.split()), params, fn)

    return make


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for: its id, the tool's name, the raw JSON arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    id: str  # "T3": what a claim cites
    call_id: str
    tool: str
    arguments: dict[str, Any]
    status: ToolStatus
    data: Any  # masked, JSON-ready
    text: str  # what the model reads: delimited, masked, capped
    cites: tuple[str, ...] = ()  # fact ids inside the result, citable too
    executed: bool = True


@dataclass
class Toolbox:
    tools: Sequence[Tool]
    context: Any
    masker: Masker
    meter: Meter
    output_chars: int = 6_000
    results: dict[str, ToolResult] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # names of tools that do not exist
    malformed: int = 0
    repeats: int = 0
    _seen: dict[str, str] = field(default_factory=dict)
    _next: int = 1

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self.tools]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    @property
    def stuck(self) -> bool:
        return self.repeats >= MAX_REPEATS

    def _new_id(self) -> str:
        result_id = f"T{self._next}"
        self._next += 1
        return result_id

    def _wrap(self, result_id: str, tool: str, status: ToolStatus, data: Any) -> str:
        body = json.dumps(data, ensure_ascii=False, default=str)
        if len(body) > self.output_chars:
            shown = body[: self.output_chars]
            body = f"{shown} … [cut: {self.output_chars} of {len(body)} characters shown]"
        # Data may not close the delimiter it sits in: "<" only occurs inside JSON strings,
        # where its escape means the same.
        body = body.replace("<", "\\u003c")
        return f'<tool_output id="{result_id}" tool="{tool}" status="{status}">\n{body}\n</tool_output>'

    def _answer(
        self,
        call: ToolCall,
        result_id: str,
        status: ToolStatus,
        data: Any,
        args: dict[str, Any],
        *,
        cites: tuple[str, ...] = (),
        executed: bool = True,
    ) -> ToolResult:
        masked = self.masker.mask_value(data)
        result = ToolResult(
            id=result_id,
            call_id=call.id,
            tool=call.name,
            arguments=args,
            status=status,
            data=masked,
            text=self._wrap(result_id, call.name, status, masked),
            cites=cites,
            executed=executed,
        )
        self.results[result_id] = result
        return result

    def _error(
        self, call: ToolCall, message: str, args: dict[str, Any] | None = None
    ) -> ToolResult:
        return self._answer(
            call, self._new_id(), "error", {"error": message}, args or {}, executed=False
        )

    async def run(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Answer every call (in order), running the valid ones concurrently."""
        planned = [self._plan(call) for call in calls]
        pending = [(i, p) for i, p in enumerate(planned) if isinstance(p, _Planned)]
        done = await asyncio.gather(*(self._execute(p) for _i, p in pending))
        answers: list[ToolResult | _Planned] = list(planned)
        for (i, _p), result in zip(pending, done, strict=True):
            answers[i] = result
        return [a for a in answers if isinstance(a, ToolResult)]

    def _plan(self, call: ToolCall) -> ToolResult | _Planned:
        match = next((t for t in self.tools if t.name == call.name), None)
        if match is None:
            self.refused.append(call.name)
            log.warning("the model asked for a tool that does not exist: %r", call.name[:80])
            return self._error(
                call,
                f"there is no tool named {call.name!r}. This agent can only read: "
                f"{', '.join(self.names)}. It cannot open tickets or change anything.",
            )
        try:
            raw = json.loads(call.arguments or "{}")
            if not isinstance(raw, dict):
                raise ValueError("the arguments must be a JSON object")
            args = match.params.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            self.malformed += 1
            problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return self._error(call, f"malformed arguments for {call.name}: {problem}")
        dumped = args.model_dump(mode="json")
        key = f"{call.name}:{json.dumps(dumped, sort_keys=True)}"
        if key in self._seen:
            self.repeats += 1
            return self._error(
                call,
                f"identical to {self._seen[key]}: that result is above; use it rather than asking again",
                dumped,
            )
        if (why := self.meter.tools_exhausted()) is not None:
            return self._error(call, f"{why}: answer now with what you have", dumped)
        self.meter.tool_calls += 1
        result_id = self._new_id()
        self._seen[key] = result_id
        return _Planned(call, result_id, match, args, dumped)

    async def _execute(self, p: _Planned) -> ToolResult:
        call, rid, dumped = p.call, p.result_id, p.dumped
        try:
            value = await p.tool.fn(self.context, **dict(p.args))
            data = to_jsonable(value)
            return self._answer(call, rid, "ok", data, dumped, cites=tuple(_fact_ids(data)))
        except NoData as exc:
            return self._answer(call, rid, "no_data", {"no_data": str(exc)}, dumped)
        except ToolError as exc:
            return self._answer(call, rid, "error", {"error": str(exc)}, dumped)
        except AdapterError as exc:
            return self._answer(call, rid, "error", {"error": exc.describe()}, dumped)
        except Exception as exc:  # a tool bug must not end the run: the model hears it failed
            log.exception("tool %s failed", call.name)
            error = {"error": f"the tool failed ({type(exc).__name__})"}
            return self._answer(call, rid, "error", error, dumped)


@dataclass(frozen=True)
class _Planned:
    """A valid call, admitted by the budget, waiting to run."""

    call: ToolCall
    result_id: str
    tool: Tool
    args: BaseModel
    dumped: dict[str, Any]


def _fact_ids(data: Any) -> list[str]:
    """Fact ids in a result: every ``{"id": …, "value": …, "source": …}`` object inside it."""
    found: list[str] = []
    if isinstance(data, dict):
        if isinstance(data.get("id"), str) and "source" in data and "value" in data:
            found.append(data["id"])
        for v in data.values():
            found += _fact_ids(v)
    elif isinstance(data, list):
        for v in data:
            found += _fact_ids(v)
    return found
