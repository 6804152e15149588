"""Live stacks: real vendor adapters built from a stack config, and ``oos check-config``.

``open_stack`` is an async context manager so every adapter's HTTP client is closed when the
triage is done. ``check_stack`` reaches each system once, read-only, with a probe SKU that no
catalog holds: "not found" proves the system answered and accepted our credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.config import ConfigError, StackConfig, SystemConfig, missing_env
from tools.clock import Clock, utc_now
from tools.errors import AdapterError
from tools.protocols import Stack
from tools.registry import UnknownVendor, factory
from tools.retry import RetryPolicy

PROBE_SKU = "OOS-TRIAGE-CHECK-CONFIG-PROBE"

_FIXES = {
    "auth": "check the credentials the environment variables hold, and the integration role's permissions",
    "unreachable": "check base_url (and any proxy) in the config",
    "timeout": "the system is slow or unreachable; check base_url and try again",
    "rate_limited": "the account is at its API limit right now; try again later",
    "server_error": "the vendor is failing; check its status page and try again",
    "bad_payload": "base_url may point at something that is not this vendor's API",
}


def _entries(config: StackConfig) -> list[tuple[str, str, SystemConfig]]:
    """(key, layer, entry) for every connected system, in walk order."""
    entries = [("storefront", "storefront", config.storefront)]
    entries += [(f"marketplace:{m.channel}", "marketplace", m) for m in config.marketplaces]
    entries += [("middleware", "middleware", config.middleware), ("erp", "erp", config.erp)]
    return entries


def system_keys(config: StackConfig) -> list[str]:
    """The key of every connected system: storefront, marketplace:<channel>, middleware, erp."""
    return [key for key, _, _ in _entries(config)]


def _build(
    layer: str,
    entry: SystemConfig,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy | None,
    clock: Clock | None = None,
) -> Any:
    options = dict(entry.options)
    if layer == "marketplace":
        options.setdefault("channel", getattr(entry, "channel", entry.vendor))
    try:
        make = factory(layer, entry.vendor)
        return make(
            base_url=entry.base_url,
            credentials=entry.credentials,
            options=options,
            transport=transport,
            retry=retry,
            clock=clock,
        )
    except UnknownVendor as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"{layer} ({entry.vendor}): {exc}") from None


def build_stack(
    config: StackConfig,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> Stack:
    """The config's systems as adapters; ``transports`` (by system key) replace the network;
    ``clock`` (default: the wall clock) is what the adapters stamp their reads with.

    For a long-running server that keeps its clients for its lifetime; a single triage uses
    ``open_stack``, which closes them.
    """
    if config.wms is not None:
        raise ConfigError("no WMS adapter exists yet: remove [wms] from the config")
    transports = transports or {}
    built = {
        key: _build(layer, entry, transports.get(key), retry, clock)
        for key, layer, entry in _entries(config)
    }
    return Stack(
        storefront=built["storefront"],
        middleware=built["middleware"],
        erp=built["erp"],
        marketplaces=tuple(v for k, v in built.items() if k.startswith("marketplace:")),
    )


@asynccontextmanager
async def open_stack(
    config: StackConfig,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Stack]:
    """``build_stack``, closing every adapter's HTTP client on the way out."""
    stack = build_stack(config, transports=transports, retry=retry, clock=clock)
    async with AsyncExitStack() as closing:
        for adapter in (stack.storefront, stack.middleware, stack.erp, *stack.marketplaces):
            closing.push_async_callback(adapter.aclose)  # type: ignore[attr-defined]
        yield stack


@dataclass(frozen=True)
class SystemCheck:
    key: str
    vendor: str
    ok: bool
    message: str
    # ok, but part of what a triage reads will be unknown (a refused statement, a version near
    # retirement): said, without failing check-config.
    warning: bool = False

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "WARN" if self.warning else "ok  "
        return f"{mark}  {self.key:<22} {self.vendor:<12} {self.message}"


async def statement_checks(key: str, vendor: str, adapter: Any) -> list[SystemCheck]:
    """For an adapter that reads through several independent statements (NetSuite SuiteQL):
    each statement the vendor refused or denied, with the column and what it needs. Only the
    checks that need such a statement become unknown in a triage, so each is a warning."""
    check = getattr(adapter, "check_statements", None)
    if check is None:
        return []
    faults = await check(PROBE_SKU, utc_now() - timedelta(hours=1))
    return [
        SystemCheck(
            f"{key}:{fault.statement}",
            vendor,
            True,
            f"{fault.describe()}; it needs {fault.needs}",
            warning=True,
        )
        for fault in faults
    ]


async def _probe(key: str, adapter: Any) -> None:
    since = utc_now() - timedelta(hours=1)
    if key == "storefront":
        await adapter.read_sku(PROBE_SKU)
    elif key.startswith("marketplace:"):
        await adapter.read_listing(PROBE_SKU)
    elif key == "middleware":
        await adapter.read_activity(PROBE_SKU, since)
    else:
        await adapter.read_item(PROBE_SKU, since)


async def check_stack(
    config: StackConfig,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    now: datetime | None = None,
) -> list[SystemCheck]:
    """One line per system: reached with its credentials accepted, or what is wrong and the fix;
    then a warning per statement the vendor refused (NetSuite) and for a vendor API version near
    retirement at ``now`` (Shopify; default: the clock)."""
    transports = transports or {}

    async def one(key: str, layer: str, entry: SystemConfig) -> list[SystemCheck]:
        missing = entry.missing_secrets()
        if missing:
            return [
                SystemCheck(
                    key,
                    entry.vendor,
                    False,
                    f"environment variable {', '.join(missing)} is not set: export it before running",
                )
            ]
        try:
            adapter = _build(layer, entry, transports.get(key), retry)
        except ConfigError as exc:
            return [SystemCheck(key, entry.vendor, False, str(exc))]
        try:
            try:
                await _probe(key, adapter)
            except AdapterError as exc:
                # The probe SKU exists nowhere, so "not found" proves the system answered us —
                # except for the connector, whose read fails "not found" only when a configured
                # flow is gone.
                if exc.kind != "not_found" or key == "middleware":
                    raise
            statements = await statement_checks(key, entry.vendor, adapter)
            said: list[str] = getattr(adapter, "config_warnings", lambda _now: [])(now or utc_now())
            message = "; ".join(["reached, credentials accepted", *said])
            return [SystemCheck(key, entry.vendor, True, message, warning=bool(said)), *statements]
        except AdapterError as exc:
            # A refused statement says what it needs itself; other faults get the usual fix.
            fix = "" if hasattr(exc, "fault") else f": {_FIXES.get(exc.kind, 'see the message')}"
            return [SystemCheck(key, entry.vendor, False, f"{exc.describe()}{fix}")]
        finally:
            await adapter.aclose()

    results = [r for rs in await asyncio.gather(*(one(*e) for e in _entries(config))) for r in rs]
    if config.wms is not None:
        results.append(SystemCheck("wms", config.wms.vendor, False, "no WMS adapter exists yet"))
    missing = missing_env(config, only=("tickets",)).get("tickets")
    if config.tickets is not None and missing:
        results.append(
            SystemCheck(
                "tickets",
                config.tickets.system,
                False,
                f"environment variable {', '.join(missing)} is not set: export it before running",
            )
        )
    return results
