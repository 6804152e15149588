"""Writing TOML by hand: the values a stack config holds (strings, numbers, booleans, lists and
tables), for the configs ``oos discover`` and ``oos init`` print. Reading stays ``tomllib``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted."""
    return name if _BARE_KEY.match(name) else json.dumps(name)


def value(item: Any) -> str:
    """One TOML value; a table becomes an inline table."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, str):
        # A JSON string is a TOML basic string for everything a config holds (escapes included).
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, Mapping):
        inner = ", ".join(f"{key(str(k))} = {value(v)}" for k, v in item.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"no TOML form for {type(item).__name__}")


def table(header: str, entries: Mapping[str, Any]) -> list[str]:
    """``[header]`` and one ``key = value`` line per entry (nested tables inline)."""
    return [f"[{header}]", *(f"{key(k)} = {value(v)}" for k, v in entries.items())]
