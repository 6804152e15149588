"""Sandbox scenarios: what each system would show for one SKU, as a YAML file.

A scenario never states the diagnosis, only facts (quantities, timestamps, statuses, config
records, log lines, change events); the engine must derive the cause from them. It also says
what it expects, so the library doubles as the engine's acceptance test. The format is
documented in ``tools/sandbox/scenarios/README.md``.

Times may be absolute (ISO 8601) or relative to the scenario's ``clock``: ``-3h``, ``-90m``,
``-2d``, ``-1h30m``, ``+10m``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from tools.errors import ErrorKind
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    MiddlewareSnapshot,
    StorefrontSnapshot,
    WmsSnapshot,
)
from tools.sku import validate_sku

_RELATIVE = re.compile(r"^(?P<sign>[+-])(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


class ScenarioError(ValueError):
    """A scenario file cannot be used; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Expected(_Strict):
    pattern: str
    layer: Literal[1, 2, 3, 4, "hop"] | None
    cause: str | None
    confidence: Literal["confirmed", "likely", "inconclusive"]
    secondary: list[str] = []


class Unreadable(_Strict):
    """Instead of a state: the system fails this way when asked."""

    kind: ErrorKind
    message: str
    status: int | None = None
    system: str | None = None  # the vendor, so the report can name it
    channel: str | None = None  # for a marketplace


class Scenario(_Strict):
    sku: Annotated[str, AfterValidator(validate_sku)]  # the one SKU rule (tools/sku.py)
    name: str
    checklist: str = Field(description="the checklist item this scenario reproduces")
    story: str = ""
    clock: datetime
    expected: Expected
    storefront: StorefrontSnapshot | Unreadable
    marketplaces: list[ChannelListing | Unreadable] = []
    middleware: MiddlewareSnapshot | Unreadable
    erp: ErpSnapshot | Unreadable
    wms: WmsSnapshot | Unreadable | None = None
    path: str = ""


def _resolve_times(value: Any, clock: datetime) -> Any:
    """Relative times resolved against ``clock``; every other string in Unicode NFC, so a SKU
    written decomposed in one system's entry matches the same SKU precomposed in another."""
    if isinstance(value, dict):
        return {k: _resolve_times(v, clock) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_times(v, clock) for v in value]
    if isinstance(value, str) and (m := _RELATIVE.match(value)) and any(m.group(u) for u in "dhm"):
        delta = timedelta(days=int(m["d"] or 0), hours=int(m["h"] or 0), minutes=int(m["m"] or 0))
        return (clock - delta if m["sign"] == "-" else clock + delta).isoformat()
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    return value


def _system_state(raw: Any, key: str, where: str, clock: datetime, system: str | None) -> Any:
    """Add what every snapshot carries (source, read time) unless the system is unreadable."""
    if not isinstance(raw, dict):
        return raw
    if "error" in raw:
        error = dict(raw["error"]) if isinstance(raw["error"], dict) else raw["error"]
        if isinstance(error, dict):
            error.setdefault("system", raw.get("system") or raw.get("vendor"))
            error.setdefault("channel", raw.get("channel"))
        return error
    state = dict(raw)
    vendor = state.pop("system", None) or system or state.get("vendor", key)
    state.setdefault("source", {"system": vendor, "endpoint": f"sandbox {where}", "record": key})
    state.setdefault("read_at", clock.isoformat())
    return state


def parse_scenario(data: Any, where: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{where}: a scenario is a mapping with sku, name, clock, expected and one entry per system"
        )
    try:
        clock = datetime.fromisoformat(str(data["clock"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise ScenarioError(
            f"{where}: 'clock' must be an ISO 8601 time with a zone ({exc})"
        ) from None
    if clock.tzinfo is None:
        raise ScenarioError(f"{where}: 'clock' needs a time zone, e.g. 2026-11-20T07:00:00Z")
    body = _resolve_times(data, clock)
    for key in ("storefront", "middleware", "erp", "wms"):
        if key in body and body[key] is not None:
            body[key] = _system_state(body[key], key, where, clock, None)
    body["marketplaces"] = [
        _system_state(
            m,
            f"marketplace {m.get('channel', '?') if isinstance(m, dict) else '?'}",
            where,
            clock,
            None,
        )
        for m in body.get("marketplaces", [])
    ]
    body["path"] = where
    try:
        return Scenario.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ScenarioError(
            f"{where}: {loc}: {first['msg']} ({exc.error_count()} problem(s) in all)"
        ) from None


def load_scenario_file(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{at}") from None
    return parse_scenario(data, path.name)


def library_dir() -> Path:
    return Path(str(resources.files("tools.sandbox").joinpath("scenarios")))


@cache
def load_library(directory: Path | None = None) -> dict[str, Scenario]:
    """Every scenario of the library, by SKU. The library is one sandbox catalog."""
    catalog: dict[str, Scenario] = {}
    for path in sorted((directory or library_dir()).glob("*.yaml")):
        scenario = load_scenario_file(path)
        if scenario.sku in catalog:
            raise ScenarioError(
                f"{path.name}: SKU {scenario.sku} is already used by {catalog[scenario.sku].path}"
            )
        catalog[scenario.sku] = scenario
    return catalog
