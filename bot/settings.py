"""Settings: thresholds the checks judge by, and where the store lives.

Values come from the environment (``OOS_*``) or the stack config; defaults follow the field
guides (15-minute sync latency, 72-hour change window, 5-unit drift).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sync_interval_minutes: int = Field(
        15, ge=1, description="Expected storefront sync interval when the storefront states none."
    )
    latency_minutes: int = Field(15, ge=1, description="Lag between hops that counts as a breach.")
    change_window_hours: int = Field(72, ge=1, description="How far back changes are suspects.")
    quantity_tolerance: int = Field(
        0, ge=0, description="Units by which storefront and ERP may differ and still agree."
    )
    drift_units: int = Field(5, ge=0, description="Monitoring: gap that flags a SKU.")


def default_store_path(*, sandbox: bool = False) -> Path:
    """``$OOS_DB`` or ``~/.local/state/oos-triage/triage.db``; for the sandbox, a file beside it
    with ``-sandbox`` in its name, so sandbox triages, tickets and drift never mix with live ones."""
    configured = os.environ.get("OOS_DB")
    if configured:
        path = Path(configured)
    else:
        base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
        path = base / "oos-triage" / "triage.db"
    return path.with_name(f"{path.stem}-sandbox{path.suffix}") if sandbox else path
