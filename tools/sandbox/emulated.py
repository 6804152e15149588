"""The sandbox over the real vendor adapters, each talking HTTP to an in-process emulator.

``emulated_stack(scenario)`` builds the same ``Stack`` a production triage gets from a stack
config, except that each adapter's transport is the emulator of its vendor, rendering the
scenario's snapshot in the vendor's wire format:

    vendor (source.system)   adapter                                        tools.sandbox.emulators.
    shopify                  tools.storefront.shopify.ShopifyStorefront     shopify
    amazon-sp-api            tools.marketplace.amazon.AmazonSpApi           amazon
    celigo                   tools.middleware.celigo.CeligoMiddleware       celigo
    netsuite                 tools.erp.netsuite.NetSuiteErp                 netsuite

Every other vendor (BigCommerce, Magento, Walmart, eBay, Boomi, Patchworks, Business Central,
SAP, any WMS) has no emulator yet and keeps its in-memory adapter from ``memory_stack``.

Credentials are the emulators' sandbox ones, handed to each adapter as a private ``environ``
mapping under the adapter's usual variable names: ``os.environ`` is never read or written.
Options that no vendor API carries come from the scenario, as an operator would write them in
the stack config: Amazon ``feed_source`` / ``buffer``, Celigo flow mappings and retention,
NetSuite custom field and record ids, listener script ids and the integration user and role.

An ``Unreadable`` system becomes an emulator that fails the way the vendor does, so the adapter
itself raises the intended ``AdapterError``: auth → an expired token, timeout →
``httpx.ReadTimeout``, unreachable → a refused connection, rate_limited → 429 on every call,
server_error → the scenario's 5xx (default 503) on every call, bad_payload → a malformed body,
not_found → an account without the record. ``latency`` is slept inside each emulator once per
HTTP request, so a vendor read that takes several requests (Celigo, NetSuite) waits several
times, as it would against the real API.

The adapters hold HTTP clients. Close them when the triage is done, either with the context
manager or explicitly::

    async with open_emulated_stack(scenario) as stack:
        report = await triage(scenario.sku, stack, now=scenario.clock)

    stack = emulated_stack(scenario)
    try:
        report = await triage(scenario.sku, stack, now=scenario.clock)
    finally:
        await aclose_stack(stack)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from tools.erp.netsuite import NetSuiteErp
from tools.erp.netsuite_config import (
    NetSuiteConfig,
    OutboundEventRecord,
    TriggerRuleRecord,
    WebhookLogRecord,
)
from tools.marketplace.amazon import DEFAULT_ENV as AMAZON_ENV
from tools.marketplace.amazon import AmazonSpApi
from tools.middleware.celigo import DEFAULT_TOKEN_ENV as CELIGO_TOKEN_ENV
from tools.middleware.celigo import CeligoMiddleware
from tools.middleware.celigo_config import FlowMapping
from tools.models import (
    ChannelListing,
    ErpSnapshot,
    MiddlewareSnapshot,
    Source,
    StorefrontSnapshot,
)
from tools.protocols import (
    ErpAdapter,
    MarketplaceAdapter,
    MiddlewareAdapter,
    Stack,
    StorefrontAdapter,
)
from tools.retry import RetryPolicy
from tools.sandbox.emulators import shopify as shopify_emulator
from tools.sandbox.emulators.amazon import AmazonEmulator, LwaCredentials
from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, listener_scripts, sandbox_environ
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, Unreadable
from tools.storefront.shopify import DEFAULT_TOKEN_ENV as SHOPIFY_TOKEN_ENV
from tools.storefront.shopify import ShopifyStorefront

EMULATED_VENDORS = frozenset({"shopify", "amazon-sp-api", "celigo", "netsuite"})

# In-process emulators answer in microseconds: a few quick attempts keep the retry path honest
# (a timing-out or 5xx system is still retried) without making the demo wait. A Retry-After
# longer than the budget ends the retries at once, as it does in production.
SANDBOX_RETRY = RetryPolicy(max_attempts=3, total_seconds=0.5, base_delay=0.01, max_delay=0.05)

_RETRY_AFTER = 1.0  # what the emulated vendors ask for on a 429
_CELIGO_RETENTION_DAYS = 30.0  # Celigo's default data retention
_CELIGO_FLOW = "oos-sandbox-inventory-flow"  # the flow an unreadable account is configured with
_NETSUITE_ACCOUNT = "1234567"
_NETSUITE_LISTENER = {"customscript_inventory_listener": "inventory_update"}
_RESTLET_HOST = re.compile(r"https://(?P<account>[a-z0-9-]+)\.restlets\.api\.netsuite\.com/")


def vendor_of(state: object) -> str | None:
    """The vendor a scenario names for one system: its snapshot's ``source.system``, or the
    ``system`` of an ``Unreadable``."""
    if isinstance(state, Unreadable):
        return state.system
    source = getattr(state, "source", None)
    return source.system if isinstance(source, Source) else None


def emulated_stack(scenario: Scenario, latency: float = 0.0) -> Stack:
    """A ``Stack`` of the real adapters over vendor emulators (in memory where none exists).

    The caller closes it with ``aclose_stack`` (or uses ``open_emulated_stack``)."""
    memory = memory_stack(scenario, latency)
    marketplaces: list[MarketplaceAdapter] = []
    for listing, in_memory in zip(scenario.marketplaces, memory.marketplaces, strict=True):
        if vendor_of(listing) == "amazon-sp-api":
            marketplaces.append(_amazon(scenario, listing, in_memory.channel, latency))
        else:
            marketplaces.append(in_memory)
    storefront: StorefrontAdapter = memory.storefront
    if vendor_of(scenario.storefront) == "shopify":
        storefront = _shopify(scenario, scenario.storefront, latency)
    middleware: MiddlewareAdapter = memory.middleware
    if vendor_of(scenario.middleware) == "celigo":
        middleware = _celigo(scenario, scenario.middleware, latency)
    erp: ErpAdapter = memory.erp
    if vendor_of(scenario.erp) == "netsuite":
        erp = _netsuite(scenario, scenario.erp, latency)
    return Stack(
        storefront=storefront,
        middleware=middleware,
        erp=erp,
        marketplaces=tuple(marketplaces),
        wms=memory.wms,
    )


async def aclose_stack(stack: Stack) -> None:
    """Close every adapter of ``stack`` that holds an HTTP client (in-memory ones hold none)."""
    adapters: list[object] = [stack.storefront, *stack.marketplaces, stack.middleware, stack.erp]
    if stack.wms is not None:
        adapters.append(stack.wms)
    for adapter in adapters:
        close = getattr(adapter, "aclose", None)
        if close is not None:
            await close()


@asynccontextmanager
async def open_emulated_stack(scenario: Scenario, latency: float = 0.0) -> AsyncIterator[Stack]:
    """``emulated_stack`` as an async context manager that closes the adapters on exit."""
    stack = emulated_stack(scenario, latency)
    try:
        yield stack
    finally:
        await aclose_stack(stack)


# --- failures ------------------------------------------------------------------------------------


@dataclass
class _Down(Faults):
    """Faults whose scripted status never runs out: a vendor that keeps failing."""

    down: Scripted | None = None

    def next_status(self) -> Scripted | None:
        return super().next_status() or self.down


class _Refused(httpx.AsyncBaseTransport):
    """Nothing listens: every request fails to connect before reaching the vendor."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("emulated connection refused", request=request)


def _faults(state: object, latency: float) -> Faults:
    """The emulator faults that make a vendor fail as ``state`` says (none for a snapshot)."""
    if not isinstance(state, Unreadable):
        return Faults(latency=latency)
    kind = state.kind
    if kind == "rate_limited":
        return _Down(latency=latency, down=Scripted(429, retry_after=_RETRY_AFTER))
    if kind == "server_error":
        return _Down(latency=latency, down=Scripted(state.status or 503))
    return Faults(
        latency=latency,
        expired_token=kind == "auth",
        timeout=kind == "timeout",
        malformed=kind == "bad_payload",
    )


def _transport(state: object, emulator: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    if isinstance(state, Unreadable) and state.kind == "unreachable":
        return _Refused()
    return emulator


def _read_at(scenario: Scenario, state: object) -> Callable[[], datetime]:
    """The adapter's "now": the snapshot's read time (a scenario may describe a stale read)."""
    moment = getattr(state, "read_at", None)
    at = moment if isinstance(moment, datetime) else scenario.clock
    return lambda: at


# --- one builder per emulated vendor ---------------------------------------------------------------


def _shopify(
    scenario: Scenario, state: StorefrontSnapshot | Unreadable, latency: float
) -> ShopifyStorefront:
    # emulator_for renders an Unreadable as the matching Shopify failure itself.
    emulator = shopify_emulator.emulator_for(state, faults=Faults(latency=latency))
    return ShopifyStorefront(
        emulator.shop,
        token_env=SHOPIFY_TOKEN_ENV,
        transport=emulator,
        retry=SANDBOX_RETRY,
        environ={SHOPIFY_TOKEN_ENV: emulator.token},
        now=_read_at(scenario, state),
    )


def _amazon(
    scenario: Scenario, state: ChannelListing | Unreadable, channel: str, latency: float
) -> AmazonSpApi:
    # feed_source and buffer have no SP-API field: the stack config says them, as here.
    feed_source, buffer = "storefront", 0
    if isinstance(state, ChannelListing):
        listings = [state]
        feed_source, buffer = state.feed_source, state.buffer
    elif state.kind == "not_found":
        listings = []
    else:
        # The listing exists but cannot be read; the emulator only garbles a 200 answer.
        listings = [_placeholder_listing(scenario, channel)]
    credentials = LwaCredentials()
    emulator = AmazonEmulator(listings, _faults(state, latency), credentials=credentials)
    environ = {
        AMAZON_ENV["client_id"]: credentials.client_id,
        AMAZON_ENV["client_secret"]: credentials.client_secret,
        AMAZON_ENV["refresh_token"]: credentials.refresh_token,
    }
    return AmazonSpApi(
        seller_id=emulator.seller_id,
        marketplace_id=emulator.marketplace_id,
        channel=channel,
        feed_source=feed_source,
        buffer=buffer,
        transport=_transport(state, emulator),
        retry=SANDBOX_RETRY,
        environ=environ,
        now=_read_at(scenario, state),
    )


def _placeholder_listing(scenario: Scenario, channel: str) -> ChannelListing:
    return ChannelListing(
        source=Source(system="amazon-sp-api", endpoint="sandbox placeholder"),
        read_at=scenario.clock,
        channel=channel,
        sku=scenario.sku,
        quantity=0,
        buyable=False,
        status="INACTIVE",
    )


def _celigo(
    scenario: Scenario, state: MiddlewareSnapshot | Unreadable, latency: float
) -> CeligoMiddleware:
    if isinstance(state, MiddlewareSnapshot):
        account = state
        flows = flow_mappings_for(state)
        retention = _CELIGO_RETENTION_DAYS
        if state.log_window_start is not None:
            # The account's retention is what stopped the log where the scenario says it starts.
            retention = (state.read_at - state.log_window_start) / timedelta(days=1)
    else:
        # An empty account; the config still names a flow, so not_found is "flow not there".
        account = MiddlewareSnapshot(
            source=Source(system="celigo", endpoint="sandbox"),
            read_at=scenario.clock,
            vendor="celigo",
            flows=[],
        )
        flows = {_CELIGO_FLOW: FlowMapping(hop="storefront_to_erp")}
        retention = _CELIGO_RETENTION_DAYS
    emulator = CeligoEmulator(account, _faults(state, latency))
    return CeligoMiddleware(
        flows,
        token_env=CELIGO_TOKEN_ENV,
        transport=_transport(state, emulator),
        retry=SANDBOX_RETRY,
        retention_days=retention,
        clock=_read_at(scenario, state),
        environ={CELIGO_TOKEN_ENV: emulator.token},
    )


def netsuite_config_for(state: ErpSnapshot | None) -> NetSuiteConfig:
    """What an operator of the scenario's NetSuite account would configure: its custom field and
    record ids, listener scripts, integration user and role, and the account id its RESTlet
    listeners are reached at. Records the scenario lists as not visible are left unconfigured."""
    if state is None:
        return NetSuiteConfig(account_id=_NETSUITE_ACCOUNT, listener_scripts=_NETSUITE_LISTENER)
    hosts = [m for x in state.listeners if (m := _RESTLET_HOST.match(x.endpoint or ""))]
    account = hosts[0]["account"].replace("-", "_") if hosts else _NETSUITE_ACCOUNT
    hidden = {line.split(":")[0] for line in state.not_visible}
    user = state.integration_user
    return NetSuiteConfig(
        account_id=account,
        do_not_stock_field="custitem_do_not_stock",
        available_to_fulfil_field="custitem_available_to_fulfil",
        origin_field="custbody_origin",
        # With no listener in the account, the operator still names the script to look for.
        listener_scripts=listener_scripts([state]) or _NETSUITE_LISTENER,
        integration_user=user.name if user else None,
        integration_role=user.role if user else None,
        trigger_rule_record=None if "trigger_rules" in hidden else TriggerRuleRecord(),
        webhook_log_record=None if "webhook_log" in hidden else WebhookLogRecord(),
        outbound_event_record=None if "outbound_events" in hidden else OutboundEventRecord(),
    )


def _netsuite(scenario: Scenario, state: ErpSnapshot | Unreadable, latency: float) -> NetSuiteErp:
    snapshot = state if isinstance(state, ErpSnapshot) else None
    config = netsuite_config_for(snapshot)
    # An unreadable account holds no item, so not_found is NetSuite's empty SuiteQL answer.
    emulator = NetSuiteEmulator(
        [snapshot] if snapshot else [], _faults(state, latency), config=config
    )
    return NetSuiteErp(
        config,
        transport=_transport(state, emulator),
        retry=SANDBOX_RETRY,
        environ=sandbox_environ(config.env),
        now=_read_at(scenario, state),
    )
