"""A live triage saved as a case file, and replayed: ``oos record`` and ``oos triage --replay``.

``record_case`` runs a triage over the configured systems with every adapter's transport
wrapped in a ``tools.recording.RecordingTransport``, so the case file keeps every raw answer
the adapters received (credentials removed, personal data masked), the report the engine
produced (masked the same way) and an ``expected`` block — the verdict as recorded, for the user
to confirm or correct. ``replay_case`` builds the same adapters from the case's config, serves
them the recorded answers (``ReplayTransport``) and runs the engine at the recorded moment, so a
customer's odd case becomes a regression test the emulators did not imagine.

The adapters' clocks are pinned to the moment the recording started, live and in replay alike,
so every time a report shows is the same both ways; only durations differ (``VOLATILE``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import StackConfig
from bot.engine import triage
from bot.live import open_stack, system_keys
from bot.report import Report
from tools.clock import Clock, utc_now
from tools.recording import Exchange, Masker, RecordingTransport, ReplayTransport
from tools.redact import Redactor

CASE_VERSION: Literal[1] = 1
# Report fields that measure this run rather than describe the case.
VOLATILE = frozenset({"seconds", "started_at"})
_CONFIRM = (
    "Set confirmed: true if this verdict is right for the case; if it is wrong, write the "
    "cause, confidence and pattern it should have, set confirmed: true, and say why in note."
)


class CaseError(Exception):
    """A case file that cannot be read or does not fit the command; one line for the user."""


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    cause: str | None
    confidence: str
    confirmed: bool = False
    note: str = _CONFIRM


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    oos_case: Literal[1] = CASE_VERSION
    sku: str
    recorded_at: datetime = Field(description="the moment the triage judged by")
    config: dict[str, Any] = Field(description="the stack config: credential variable names only")
    expected: Expected
    report: dict[str, Any]
    exchanges: list[Exchange]


def _credential_names(config: StackConfig) -> list[str]:
    entries = [config.storefront, *config.marketplaces, config.middleware, config.erp]
    return sorted({name for entry in entries for name in entry.credentials.values()})


def masked_report(report: Report, masker: Masker) -> dict[str, Any]:
    data = report.model_dump(mode="json", exclude={"agent"})
    return masker.json(data)  # type: ignore[no-any-return]


def comparable(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without what measures the run (durations): what a replay must reproduce."""
    data = {k: v for k, v in report.items() if k not in VOLATILE}
    data["systems"] = [
        {k: v for k, v in s.items() if k not in VOLATILE} for s in data.get("systems", [])
    ]
    return data


async def record_case(
    sku: str,
    config: StackConfig,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock = utc_now,
    environ: Mapping[str, str] | None = None,
) -> tuple[CaseFile, Report]:
    """Triage ``sku`` over the configured systems (or ``transports``, by system key) and keep
    every answer. Returns the case and the report as the engine produced it (unmasked, to
    show the user)."""
    moment = clock()
    env = os.environ if environ is None else environ
    masker = Masker(Redactor.from_env(_credential_names(config), env))
    exchanges: list[Exchange] = []
    given = transports or {}
    recording = {
        key: RecordingTransport(
            given.get(key) or httpx.AsyncHTTPTransport(), key, masker, exchanges
        )
        for key in system_keys(config)
    }
    async with open_stack(config, transports=recording, clock=lambda: moment) as stack:
        report = await triage(
            sku, stack, now=moment, thresholds=config.thresholds, clock=lambda: moment
        )
    case = CaseFile(
        sku=sku,
        recorded_at=moment,
        config=json.loads(masker.personal(config.model_dump_json(exclude_none=True))),
        expected=Expected(
            pattern=report.pattern,
            cause=report.verdict.cause,
            confidence=report.verdict.confidence,
        ),
        report=masked_report(report, masker),
        exchanges=exchanges,
    )
    return case, report


@contextmanager
def _placeholder_credentials(config: StackConfig) -> Iterator[None]:
    """Adapters refuse to start without their credential variables; a replay sends nothing, so
    any value will do for those not set (restored on the way out)."""
    added = [name for name in _credential_names(config) if not os.environ.get(name)]
    for name in added:
        os.environ[name] = "replayed-case-no-credential"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


async def replay_case(case: CaseFile) -> Report:
    """The engine's report over the case's recorded answers, judged at the recorded moment."""
    try:
        config = StackConfig.model_validate(case.config)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"]
        raise CaseError(f"the case's config is not a stack config: {first}") from None
    moment = case.recorded_at
    transports = {key: ReplayTransport(key, case.exchanges) for key in system_keys(config)}
    with _placeholder_credentials(config):
        async with open_stack(config, transports=transports, clock=lambda: moment) as stack:
            return await triage(
                case.sku, stack, now=moment, thresholds=config.thresholds, clock=lambda: moment
            )


def replays_identically(case: CaseFile, report: Report) -> bool:
    """Whether ``report`` (a replay of ``case``) is the recorded report, durations aside."""
    return comparable(masked_report(report, Masker())) == comparable(case.report)


# --- the file ----------------------------------------------------------------------------------


def write_case(case: CaseFile, path: Path) -> None:
    text = (
        "# oos case file: `oos triage SKU --replay` serves these answers to the adapters again.\n"
    )
    text += "# Credentials were removed and personal data masked. Confirm the expected block.\n"
    text += yaml.safe_dump(
        case.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(text, encoding="utf-8")


def read_case(path: Path) -> CaseFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"cannot read case file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CaseError(f"{path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("oos_case") != CASE_VERSION:
        raise CaseError(f"{path} is not an oos case file (oos_case: {CASE_VERSION} missing)")
    try:
        return CaseFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CaseError(f"{path}: {where}: {first['msg']}") from None
