"""The Celigo adapter's configuration: its options and what each configured flow means."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.middleware.celigo_wire import DEFAULT_TRACE_SEPARATOR
from tools.models import EventKind, Hop


class FlowMapping(BaseModel):
    """What a Celigo flow means to the triage, which Celigo cannot say (one per flow ``_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hop: Hop
    channel: str | None = None
    carries: list[EventKind] = ["inventory_update"]
    listens_for: list[EventKind] | None = None  # None: the same as carries
    listens_for_raw: list[str] = []


class CeligoOptions(BaseModel):
    """The ``[middleware.celigo]`` options of the stack config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: Literal["us", "eu"] = "us"
    flows: dict[str, FlowMapping]
    retention_days: float = 30.0
    sku_lookup: str = "sku_map"
    location_lookup: str = "location_map"
    source_lookup: str = "source_map"
    trace_key_separator: str | None = DEFAULT_TRACE_SEPARATOR
