"""The agent's final answer: a JSON object the model writes, validated with pydantic.

    {"verdict": {"layer": 3, "cause": "L3.flow_suspended", "reason": "…"},
     "summary": "…",
     "claims": [{"text": "…", "cites": ["E4", "T2"], "quote": "suspended"}]}

``prompts/output_format.txt`` tells the model this shape; ``parse_answer`` reads it (a code
fence or a sentence around the object is tolerated, nothing else is).
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_CLAIMS = 12


class AnswerVerdict(BaseModel):
    model_config = ConfigDict(extra="ignore")

    layer: int | str | None = None
    cause: str | None = None
    reason: str | None = Field(None, max_length=600)

    @field_validator("cause")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "none", "null", "in_sync"):
            return None
        return value.strip()


class Claim(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=800)
    cites: list[str] = Field(default_factory=list, max_length=12)
    quote: str | None = Field(None, max_length=300)


class FinalAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verdict: AnswerVerdict | None = None
    summary: str = Field(min_length=1, max_length=2_000)
    claims: list[Claim] = Field(default_factory=list)

    @field_validator("claims")
    @classmethod
    def _bounded(cls, value: list[Claim]) -> list[Claim]:
        return value[:MAX_CLAIMS]


class AnswerError(ValueError):
    """The model's final message is not the JSON object the output format asks for."""


_FENCE = re.compile(r"^\s*```(?:json)?\s*(?P<body>.*?)\s*```\s*$", re.DOTALL)


def parse_answer(content: str) -> FinalAnswer:
    text = content.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group("body")
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise AnswerError("no JSON object in the answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AnswerError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    try:
        return FinalAnswer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the object"
        raise AnswerError(f"{where}: {first['msg']}") from None
