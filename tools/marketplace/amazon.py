"""Amazon Selling Partner API adapter: one listing, as ``ChannelListing`` (channel ``amazon``).

Wire calls (official Swagger models ``listingsItems_2021-08-01`` and ``fbaInventory``):

    POST {lwa}/auth/o2/token                         Login with Amazon refresh-token grant; the
                                                     access token is cached until 60 s before
                                                     ``expires_in`` and sent as x-amz-access-token
    GET /listings/2021-08-01/items/{sellerId}/{sku}  getListingsItem, includedData=summaries,
                                                     issues,offers,fulfillmentAvailability
                                                     (5 req/s, burst 10)
    GET /fba/inventory/v1/summaries                  getInventorySummaries, only for FBA listings,
                                                     following pagination.nextToken (2 req/s, burst 2)

Endpoints are regional (``na``/``eu``/``fe``); ``base_url`` and ``lwa_base_url`` override them for
sandboxes, proxies and emulators. Each operation has its own ``TokenBucket`` that adopts the rate
Amazon reports in ``x-amzn-RateLimit-Limit``. Error bodies ``{"errors": [{code, message,
details}]}`` become ``AdapterError`` in ``tools.http``. A 403 on a cached token (Amazon's answer to
an expired or revoked one) is retried once with a fresh token.

Where each ``ChannelListing`` field comes from (``summaries[]`` and ``issues[]`` are taken for the
configured marketplace only):

    quantity      seller-fulfilled: ``fulfillmentAvailability[fulfillmentChannelCode=DEFAULT].quantity``.
                  When a ``fulfillmentChannelCode`` is ``AMAZON_*`` the listing is FBA: the sum of
                  ``inventorySummaries[].inventoryDetails.fulfillableQuantity`` for the SKU
                  (0 when Amazon holds none). None (unknown, never 0) when the figure is
                  omitted, when ``fba_inventory`` is off (option, default on), or when the
                  app's role may not read FBA inventory (403: the rest of the listing stands)
    fulfilled_by  ``marketplace`` when any ``fulfillmentChannelCode`` is not ``DEFAULT`` (FBA),
                  else ``seller``
    buyable       ``"BUYABLE" in summaries[].status``
    status        ``summaries[].status`` joined with "+" (``BUYABLE+DISCOVERABLE``, ``DISCOVERABLE``).
                  An empty list gets a word: SUPPRESSED (an enforced LISTING_SUPPRESSED), REMOVED
                  (an enforced CATALOG_ITEM_REMOVED), else INACTIVE
    issues        code, message, severity (lower-cased) and enforcement: the
                  ``enforcements.actions[].action`` values joined with ",", only when the
                  exemption is NOT_EXEMPT. Under EXEMPT / EXEMPT_UNTIL_EXPIRY_DATE Amazon does not
                  apply them, so enforcement stays empty and the message says what is pending
    status_history  SP-API keeps no history of listing states (LISTINGS_ITEM_STATUS_CHANGED is a
                  push notification only). Convention: when a listing state rather than stock makes
                  the listing unbuyable (not BUYABLE, and either not DISCOVERABLE or still holding
                  quantity), one entry: that state at ``summaries[].lastUpdatedDate``, the latest
                  time the listing changed. Otherwise empty
    last_inventory_feed_at  seller-fulfilled: ``summaries[].lastUpdatedDate`` (any update to the
                  listing; quantity feeds are its usual writer, so it is later than the last feed
                  when something else changed the listing since). FBA:
                  ``inventorySummaries[].lastUpdatedTime`` (the latest, when several)
    feed_source, buffer  no SP-API field: they come from the stack config of this channel
                  (constructor options) and are passed through
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast, get_args
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from tools import redact
from tools.clock import utc_now
from tools.errors import AdapterError
from tools.http import AsyncClosing, Params, VendorClient
from tools.models import ChannelListing, ListingIssue, ListingStatusChange, Source
from tools.ratelimit import TokenBucket
from tools.retry import Clock, RetryPolicy, Sleep

SYSTEM = "amazon-sp-api"

Region = Literal["na", "eu", "fe"]
REGION_ENDPOINTS: dict[Region, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
LWA_BASE_URL = "https://api.amazon.com"
LWA_TOKEN_PATH = "/auth/o2/token"
LISTINGS_ITEM_PATH = "/listings/2021-08-01/items/{sellerId}/{sku}"
INVENTORY_SUMMARIES_PATH = "/fba/inventory/v1/summaries"
INCLUDED_DATA = ("summaries", "issues", "offers", "fulfillmentAvailability")

# Default usage plans from the models' operation descriptions: (requests per second, burst).
OPERATION_RATES: dict[str, tuple[float, float]] = {
    "getListingsItem": (5.0, 10.0),
    "getInventorySummaries": (2.0, 2.0),
}

DEFAULT_ENV = {
    "client_id": "SP_API_CLIENT_ID",
    "client_secret": "SP_API_CLIENT_SECRET",
    "refresh_token": "SP_API_REFRESH_TOKEN",
}
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TOKEN_MARGIN_SECONDS = 60.0
MAX_INVENTORY_PAGES = 20
_MFN_CODE = "DEFAULT"
_ENFORCED = "NOT_EXEMPT"
_SEVERITY: dict[str, Literal["error", "warning", "info"]] = {
    "ERROR": "error",
    "WARNING": "warning",
    "INFO": "info",
}


def _utcnow() -> datetime:
    return utc_now()


# --- the vendor's shapes (only what the mapping reads; everything else stays in ``raw``) ------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Summary(_Wire):
    marketplaceId: str
    status: list[str] = []
    createdDate: datetime | None = None
    lastUpdatedDate: datetime | None = None


class _Action(_Wire):
    action: str


class _Exemption(_Wire):
    status: str
    expiryDate: datetime | None = None


class _Enforcements(_Wire):
    actions: list[_Action] = []
    exemption: _Exemption | None = None


class _Issue(_Wire):
    code: str
    message: str
    severity: str
    enforcements: _Enforcements | None = None
    marketplaceIds: list[str] = []


class _Availability(_Wire):
    fulfillmentChannelCode: str
    quantity: int | None = None


class _Item(_Wire):
    sku: str
    summaries: list[_Summary] = []
    issues: list[_Issue] = []
    fulfillmentAvailability: list[_Availability] = []


class _InventoryDetails(_Wire):
    fulfillableQuantity: int | None = None


class _InventorySummary(_Wire):
    sellerSku: str | None = None
    inventoryDetails: _InventoryDetails | None = None
    lastUpdatedTime: datetime | None = None


class _InventoryPayload(_Wire):
    inventorySummaries: list[_InventorySummary] = []


class _Pagination(_Wire):
    nextToken: str | None = None


class _ErrorEntry(_Wire):
    code: str
    message: str | None = None


class _InventoryResponse(_Wire):
    payload: _InventoryPayload | None = None
    pagination: _Pagination | None = None
    errors: list[_ErrorEntry] = []


class _LwaToken(_Wire):
    access_token: str
    expires_in: float = 3600.0


_W = TypeVar("_W", bound=_Wire)


def _parse(model: type[_W], data: Any, endpoint: str) -> _W:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise AdapterError(
            SYSTEM, "bad_payload", f"{where}: {first['msg']}", endpoint=endpoint
        ) from None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- Login with Amazon ---------------------------------------------------------------------------


class LwaTokens:
    """Exchanges the refresh token for access tokens and caches each until shortly before expiry."""

    def __init__(
        self,
        client: VendorClient,
        env_names: Mapping[str, str],
        environ: Mapping[str, str] | None,
        redactor: redact.Redactor,
        clock: Clock,
    ) -> None:
        self._client = client
        self._env_names = dict(env_names)
        self._environ = environ
        self._redactor = redactor
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _credential(self, role: str) -> str:
        name = self._env_names[role]
        value = (os.environ if self._environ is None else self._environ).get(name, "")
        if not value:
            raise AdapterError(
                SYSTEM,
                "auth",
                f"environment variable {name} (LWA {role}) is not set",
                endpoint=f"POST {LWA_TOKEN_PATH}",
            )
        self._redactor.add(value)
        return value

    def invalidate(self) -> None:
        self._token = None

    async def access_token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token = await self._exchange()
            return self._token

    async def _exchange(self) -> str:
        body = {
            "grant_type": "refresh_token",
            "refresh_token": self._credential("refresh_token"),
            "client_id": self._credential("client_id"),
            "client_secret": self._credential("client_secret"),
        }
        started = self._clock()
        try:
            # JSON is accepted by LWA and is what Amazon's own SP-API client libraries send.
            data = await self._client.post_json(LWA_TOKEN_PATH, body, idempotent=True)
        except AdapterError as exc:
            if exc.status == 400:  # invalid_grant / invalid_request: a credential problem
                raise AdapterError(
                    SYSTEM, "auth", exc.message, status=exc.status, endpoint=exc.endpoint
                ) from None
            raise
        token = _parse(_LwaToken, data, f"POST {LWA_TOKEN_PATH}")
        self._redactor.add(token.access_token)
        margin = min(TOKEN_MARGIN_SECONDS, token.expires_in / 2)
        self._expires_at = started + token.expires_in - margin
        return token.access_token


# --- the adapter -------------------------------------------------------------------------------


class AmazonSpApi(AsyncClosing):
    """``MarketplaceAdapter`` over the Selling Partner API for one seller and marketplace."""

    system = SYSTEM

    def __init__(
        self,
        *,
        seller_id: str,
        marketplace_id: str,
        region: Region = "na",
        base_url: str | None = None,
        lwa_base_url: str = LWA_BASE_URL,
        client_id_env: str = DEFAULT_ENV["client_id"],
        client_secret_env: str = DEFAULT_ENV["client_secret"],
        refresh_token_env: str = DEFAULT_ENV["refresh_token"],
        channel: str = "amazon",
        feed_source: str = "storefront",
        buffer: int = 0,
        issue_locale: str | None = "en_US",
        fba_inventory: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        if region not in REGION_ENDPOINTS:
            raise ValueError(f"region must be one of {', '.join(REGION_ENDPOINTS)}, not {region!r}")
        if not seller_id or not marketplace_id:
            raise ValueError("seller_id and marketplace_id are required")
        self.channel = channel
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.feed_source = feed_source
        self.buffer = buffer
        self.issue_locale = issue_locale
        self.fba_inventory = fba_inventory
        self._now = now
        env_names = {
            "client_id": client_id_env,
            "client_secret": client_secret_env,
            "refresh_token": refresh_token_env,
        }
        self._redactor = redact.Redactor.from_env(env_names.values(), environ)
        common: dict[str, Any] = {
            "timeout": timeout,
            "retry": retry,
            "transport": transport,
            "redactor": self._redactor,
            "sleep": sleep,
            "clock": clock,
        }
        self._lwa = VendorClient(SYSTEM, lwa_base_url, **common)
        self._tokens = LwaTokens(self._lwa, env_names, environ, self._redactor, clock)
        self._api = VendorClient(
            SYSTEM, base_url or REGION_ENDPOINTS[region], auth=self._authorize, **common
        )
        self.limiters = {
            op: TokenBucket(rate, burst, clock=clock, sleep=sleep)
            for op, (rate, burst) in OPERATION_RATES.items()
        }

    @classmethod
    def from_settings(
        cls,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> AmazonSpApi:
        """Build from a stack-config entry.

        ``credentials`` maps the roles ``client_id``, ``client_secret`` and ``refresh_token`` to
        the NAMES of environment variables. ``options``: ``seller_id`` and ``marketplace_id``
        (required), ``region`` (na/eu/fe), ``lwa_base_url``, ``channel``, ``feed_source``,
        ``buffer``, ``issue_locale``.
        """
        creds = {**DEFAULT_ENV, **(credentials or {})}
        unknown = set(creds) - set(DEFAULT_ENV)
        if unknown:
            raise ValueError(f"amazon: unknown credential role(s) {sorted(unknown)}")
        opts = dict(options or {})
        missing = [k for k in ("seller_id", "marketplace_id") if not opts.get(k)]
        if missing:
            raise ValueError(f"amazon: options.{missing[0]} is required")
        region = str(opts.get("region", "na"))
        if region not in get_args(Region):
            raise ValueError(f"amazon: options.region must be na, eu or fe, not {region!r}")
        buffer = opts.get("buffer", 0)
        if not isinstance(buffer, int) or buffer < 0:
            raise ValueError("amazon: options.buffer must be a whole number ≥ 0")
        return cls(
            seller_id=str(opts["seller_id"]),
            marketplace_id=str(opts["marketplace_id"]),
            region=cast(Region, region),
            base_url=base_url,
            lwa_base_url=str(opts.get("lwa_base_url", LWA_BASE_URL)),
            client_id_env=creds["client_id"],
            client_secret_env=creds["client_secret"],
            refresh_token_env=creds["refresh_token"],
            channel=str(opts.get("channel", "amazon")),
            feed_source=str(opts.get("feed_source", "storefront")),
            buffer=buffer,
            issue_locale=opts.get("issue_locale", "en_US"),
            fba_inventory=bool(opts.get("fba_inventory", True)),
            transport=transport,
            retry=retry,
            now=clock or _utcnow,
        )

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._lwa.aclose()

    async def _authorize(self, request: httpx.Request) -> None:
        request.headers["x-amz-access-token"] = await self._tokens.access_token()

    async def _get(self, operation: str, path: str, params: Params) -> Any:
        limiter = self.limiters[operation]
        try:
            return await self._api.get_json(path, params=params, limiter=limiter)
        except AdapterError as exc:
            if not (exc.kind == "auth" and exc.status == 403):
                raise
        # Amazon answers 403 to an expired or revoked access token: one fresh token, once.
        self._tokens.invalidate()
        return await self._api.get_json(path, params=params, limiter=limiter)

    async def read_listing(self, sku: str) -> ChannelListing:
        """The listing's quantity, buyability, issues and feed time in the configured marketplace."""
        path = f"/listings/2021-08-01/items/{quote(self.seller_id, safe='')}/{quote(sku, safe='')}"
        params: dict[str, str] = {
            "marketplaceIds": self.marketplace_id,
            "includedData": ",".join(INCLUDED_DATA),
        }
        if self.issue_locale:
            params["issueLocale"] = self.issue_locale
        endpoint = f"GET {LISTINGS_ITEM_PATH}"
        raw_item = await self._get("getListingsItem", path, params)
        item = _parse(_Item, raw_item, endpoint)
        summary = next((s for s in item.summaries if s.marketplaceId == self.marketplace_id), None)
        if summary is None:
            raise AdapterError(
                SYSTEM,
                "not_found",
                f"SKU {sku} has no listing in marketplace {self.marketplace_id}",
                status=404,
                endpoint=endpoint,
            )
        issues = [self._issue(i) for i in item.issues if self._ours(i)]
        raw: dict[str, Any] = {"getListingsItem": raw_item}

        # DEFAULT is the seller's own fulfilment; any other code (AMAZON_NA, AMAZON_EU…) is FBA
        fba = any(a.fulfillmentChannelCode != _MFN_CODE for a in item.fulfillmentAvailability)
        if fba:
            inventory = await self._fba_inventory_or_none(sku, raw)
            if inventory is None:
                # FBA inventory not read (not configured, or the app may not read it): the
                # listing shows no quantity of its own, so it is unknown, never 0.
                quantity: int | None = None
                feed_at = _utc(summary.lastUpdatedDate)
            else:
                endpoint += f" + GET {INVENTORY_SUMMARIES_PATH}"
                held = [
                    s.inventoryDetails.fulfillableQuantity
                    for s in inventory
                    if s.inventoryDetails and s.inventoryDetails.fulfillableQuantity is not None
                ]
                # no summary: Amazon holds none (0); summaries without a figure: unknown
                quantity = sum(held) if held or not inventory else None
                times = [t for s in inventory if (t := _utc(s.lastUpdatedTime)) is not None]
                feed_at = max(times, default=None)
        else:
            stated = [
                a.quantity
                for a in item.fulfillmentAvailability
                if a.fulfillmentChannelCode == _MFN_CODE and a.quantity is not None
            ]
            quantity = sum(stated) if stated else None  # omitted: unknown, not zero
            feed_at = _utc(summary.lastUpdatedDate)

        buyable = "BUYABLE" in summary.status
        status = "+".join(summary.status) if summary.status else self._status_word(item)
        history: list[ListingStatusChange] = []
        updated = _utc(summary.lastUpdatedDate)
        held_some = quantity is not None and quantity > 0
        if not buyable and updated and ("DISCOVERABLE" not in summary.status or held_some):
            history.append(ListingStatusChange(at=updated, status=status, buyable=False))

        return ChannelListing(
            source=Source(system=SYSTEM, endpoint=endpoint, record=f"{sku}@{self.marketplace_id}"),
            read_at=self._now(),
            raw=raw,
            channel=self.channel,
            sku=sku,
            quantity=quantity,
            buyable=buyable,
            status=status,
            issues=issues,
            status_history=history,
            last_inventory_feed_at=feed_at,
            feed_source=self.feed_source,
            buffer=self.buffer,
            fulfilled_by="marketplace" if fba else "seller",
        )

    async def _fba_inventory_or_none(
        self, sku: str, raw: dict[str, Any]
    ) -> list[_InventorySummary] | None:
        """The SKU's FBA inventory summaries; None when ``fba_inventory`` is off or the app's
        role may not read FBA inventory (403): the quantity is then unknown."""
        if not self.fba_inventory:
            return None
        try:
            inventory, raw["getInventorySummaries"] = await self._fba_inventory(sku)
        except AdapterError as exc:
            if exc.status != 403:
                raise
            raw["getInventorySummaries"] = {"refused": exc.describe()}
            return None
        return inventory

    async def _fba_inventory(self, sku: str) -> tuple[list[_InventorySummary], list[Any]]:
        params: dict[str, str] = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": self.marketplace_id,
            "marketplaceIds": self.marketplace_id,
            "sellerSkus": sku,
        }
        endpoint = f"GET {INVENTORY_SUMMARIES_PATH}"
        found: list[_InventorySummary] = []
        pages: list[Any] = []
        for _ in range(MAX_INVENTORY_PAGES):
            data = await self._get("getInventorySummaries", INVENTORY_SUMMARIES_PATH, params)
            pages.append(data)
            page = _parse(_InventoryResponse, data, endpoint)
            if page.payload is None:
                detail = "; ".join(f"{e.code}: {e.message or ''}" for e in page.errors)
                raise AdapterError(
                    SYSTEM, "bad_payload", detail or "no payload in the answer", endpoint=endpoint
                )
            found += [s for s in page.payload.inventorySummaries if s.sellerSku in (None, sku)]
            token = page.pagination.nextToken if page.pagination else None
            if not token:
                return found, pages
            params["nextToken"] = token
        raise AdapterError(
            SYSTEM,
            "bad_payload",
            f"more than {MAX_INVENTORY_PAGES} pages for one SKU",
            endpoint=endpoint,
        )

    def _ours(self, issue: _Issue) -> bool:
        return not issue.marketplaceIds or self.marketplace_id in issue.marketplaceIds

    def _issue(self, issue: _Issue) -> ListingIssue:
        enforcement: str | None = None
        message = issue.message
        enf = issue.enforcements
        if enf and enf.actions:
            actions = ",".join(a.action for a in enf.actions)
            exemption = enf.exemption.status if enf.exemption else _ENFORCED
            if exemption == _ENFORCED:
                enforcement = actions
            elif enf.exemption and enf.exemption.expiryDate:
                message += f" (exempt from {actions} until {_utc(enf.exemption.expiryDate):%Y-%m-%d %H:%M} UTC)"
            else:
                message += f" (exempt from {actions})"
        severity = _SEVERITY.get(issue.severity.upper(), "warning")
        return ListingIssue(
            code=issue.code, message=message, severity=severity, enforcement=enforcement
        )

    def _status_word(self, item: _Item) -> str:
        enforced = {
            a.action
            for i in item.issues
            if self._ours(i) and i.enforcements
            for a in i.enforcements.actions
            if (i.enforcements.exemption.status if i.enforcements.exemption else _ENFORCED)
            == _ENFORCED
        }
        if "LISTING_SUPPRESSED" in enforced:
            return "SUPPRESSED"
        if "CATALOG_ITEM_REMOVED" in enforced:
            return "REMOVED"
        return "INACTIVE"
