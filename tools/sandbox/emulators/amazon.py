"""An in-process Amazon SP-API: renders normalized ``ChannelListing`` snapshots as SP-API answers.

``AmazonEmulator`` is an ``httpx.AsyncBaseTransport`` answering, on any host:

    POST /auth/o2/token                               LWA refresh-token grant (JSON or form body)
    GET  /listings/2021-08-01/items/{sellerId}/{sku}  getListingsItem
    GET  /sellers/v1/marketplaceParticipations        getMarketplaceParticipations (the seller's
                                                      marketplace and one it does not sell in)
    GET  /fba/inventory/v1/summaries                  getInventorySummaries, paged by ``page_size``

It enforces what Amazon enforces: the LWA client id, secret and refresh token; the
``x-amz-access-token`` of every SP-API call (unknown → 403 Unauthorized; expired → 403 with
Amazon's "expired" details); the seller id, the required parameters and the ``includedData``
enum; a per-operation token bucket answering 429 QuotaExceeded, with ``x-amzn-RateLimit-Limit``
on every answer. ``Faults`` (shared with the other emulators) apply to SP-API calls, not to LWA.

How a snapshot is rendered (the inverse of ``tools.marketplace.amazon``'s mapping):
``status`` words BUYABLE / DISCOVERABLE become ``summaries[].status`` (BUYABLE follows ``buyable``;
any other word renders as an empty list); ``lastUpdatedDate`` is the latest of
``last_inventory_feed_at`` and the ``status_history`` times, as Amazon keeps one such date per
listing; issues with an ``enforcement`` are NOT_EXEMPT. SKUs in ``fba_skus`` (and listings ``fulfilled_by: marketplace``) render as FBA
listings (channel ``AMAZON_*``) whose fulfillable quantity and ``lastUpdatedTime`` come from
``getInventorySummaries``. Prices are unknown to a snapshot, so ``offers`` is empty.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from tools.models import ChannelListing
from tools.retry import Clock, Sleep
from tools.sandbox.emulators.faults import Faults

LISTINGS_ITEM = re.compile(r"^/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)$")
INVENTORY_SUMMARIES = "/fba/inventory/v1/summaries"
MARKETPLACE_PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"
LWA_TOKEN = "/auth/o2/token"
INCLUDED_DATA_ENUM = frozenset(
    {
        "summaries",
        "attributes",
        "issues",
        "offers",
        "fulfillmentAvailability",
        "procurement",
        "relationships",
        "productTypes",
    }
)
DEFAULT_RATES: dict[str, tuple[float, float]] = {
    "getListingsItem": (5.0, 10.0),
    "getInventorySummaries": (2.0, 2.0),
    "getMarketplaceParticipations": (0.016, 15.0),
}
# Marketplaces the emulated seller participates in: (id, name, country, currency, language, domain).
MARKETPLACES: dict[str, tuple[str, str, str, str, str]] = {
    "ATVPDKIKX0DER": ("Amazon.com", "US", "USD", "en_US", "www.amazon.com"),
    "A2EUQ1WTGCTBG2": ("Amazon.ca", "CA", "CAD", "en_CA", "www.amazon.ca"),
    "A1F83G8C2ARO7P": ("Amazon.co.uk", "GB", "GBP", "en_GB", "www.amazon.co.uk"),
}
FBA_CHANNEL = {"na": "AMAZON_NA", "eu": "AMAZON_EU", "fe": "AMAZON_JP"}
_STATUSES = ("BUYABLE", "DISCOVERABLE")
_ERROR_CODES = {
    400: ("InvalidInput", "Request has missing or invalid parameters and cannot be parsed."),
    403: ("Unauthorized", "Access to requested resource is denied."),
    404: ("NotFound", "The resource specified does not exist."),
    429: ("QuotaExceeded", "You exceeded your quota for the requested resource."),
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Temporary overloading or maintenance of the server."),
}


@dataclass(frozen=True)
class LwaCredentials:
    """What the emulated LWA accepts (the sandbox's, never real ones)."""

    client_id: str = "amzn1.application-oa2-client.emulator"
    client_secret: str = "amzn1.oa2-cs.v1.emulator-secret"
    refresh_token: str = "Atzr|emulator-refresh-token"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _errors(status: int, details: str = "", message: str | None = None) -> dict[str, Any]:
    code, default = _ERROR_CODES.get(status, ("InternalFailure", "Unexpected error."))
    return {"errors": [{"code": code, "message": message or default, "details": details}]}


def status_list(listing: ChannelListing) -> list[str]:
    """The ``summaries[].status`` array that shows ``listing``'s status word and buyability."""
    words = set(re.split(r"[^A-Z]+", listing.status.upper()))
    chosen = {s for s in _STATUSES if s in words}
    if listing.buyable:
        chosen.add("BUYABLE")
    else:
        chosen.discard("BUYABLE")
    return [s for s in _STATUSES if s in chosen]


def last_updated(listing: ChannelListing) -> datetime | None:
    """Amazon's one ``lastUpdatedDate``: the latest feed or state change the snapshot knows."""
    times = [c.at for c in listing.status_history]
    if listing.last_inventory_feed_at is not None:
        times.append(listing.last_inventory_feed_at)
    return max(times, default=None)


class _Bucket:
    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._stamp = burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class AmazonEmulator(httpx.AsyncBaseTransport):
    """SP-API + LWA over normalized listings; ``calls`` records each operation it was asked for."""

    def __init__(
        self,
        state: ChannelListing | Iterable[ChannelListing],
        faults: Faults | None = None,
        *,
        seller_id: str = "A3EMULATORSELLER",
        marketplace_id: str = "ATVPDKIKX0DER",
        region: str = "na",
        credentials: LwaCredentials | None = None,
        fba_skus: Iterable[str] = (),
        rates: Mapping[str, tuple[float, float]] | None = None,
        page_size: int = 50,
        token_ttl: int = 3600,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        listings = [state] if isinstance(state, ChannelListing) else list(state)
        self.listings = {listing.sku: listing for listing in listings}
        self.faults = faults or Faults()
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.fulfillment_channel = FBA_CHANNEL.get(region, "AMAZON_NA")
        self.credentials = credentials or LwaCredentials()
        self.fba_skus = set(fba_skus)
        self.page_size = page_size
        self.token_ttl = token_ttl
        self.calls: list[str] = []
        self.requests: list[httpx.Request] = []
        self._sleep = sleep
        self._clock = clock
        self._rates = {**DEFAULT_RATES, **(rates or {})}
        self._buckets = {op: _Bucket(r, b, clock) for op, (r, b) in self._rates.items()}
        self._tokens: dict[str, float] = {}  # access token → when it expires
        self._issued = 0

    def issue_token(self) -> str:
        """A fresh access token, valid for ``token_ttl`` seconds (what LWA hands out)."""
        self._issued += 1
        token = f"Atza|emulator-access-{self._issued}"
        self._tokens[token] = self._clock() + self.token_ttl
        return token

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (a clock skew or an early revoke)."""
        self._tokens = dict.fromkeys(self._tokens, float("-inf"))

    # --- dispatch ----------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await request.aread()
        path = unquote(request.url.raw_path.split(b"?")[0].decode("ascii"))
        if request.method == "POST" and path == LWA_TOKEN:
            self.calls.append("lwa")
            return self._lwa(request)
        if request.method != "GET":
            return self._reply(405, _errors(400, "method not allowed"), None)
        if path == INVENTORY_SUMMARIES:
            operation = "getInventorySummaries"
        elif path == MARKETPLACE_PARTICIPATIONS:
            operation = "getMarketplaceParticipations"
        elif LISTINGS_ITEM.match(request.url.raw_path.split(b"?")[0].decode("ascii")):
            operation = "getListingsItem"
        else:
            return self._reply(404, _errors(404, f"no such resource {path}"), None)
        self.calls.append(operation)
        return await self._sp_api(operation, request)

    async def _sp_api(self, operation: str, request: httpx.Request) -> httpx.Response:
        faults = self.faults
        if faults.latency:
            await self._sleep(faults.latency)
        if faults.timeout:
            raise httpx.ReadTimeout("emulated timeout", request=request)
        scripted = faults.next_status()
        if scripted is not None:
            headers = {}
            if scripted.retry_after is not None:
                headers["Retry-After"] = f"{scripted.retry_after:g}"
            return self._reply(scripted.status, _errors(scripted.status), operation, headers)
        denied = self._check_token(request.headers.get("x-amz-access-token"))
        if denied is not None:
            return self._reply(403, _errors(403, denied), operation)
        if not self._buckets[operation].take():
            return self._reply(429, _errors(429), operation)
        params = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        if operation == "getListingsItem":
            match = LISTINGS_ITEM.match(request.url.raw_path.split(b"?")[0].decode("ascii"))
            assert match is not None
            status, body = self._listings_item(
                unquote(match["seller"]), unquote(match["sku"]), params
            )
        elif operation == "getMarketplaceParticipations":
            status, body = 200, self.render_participations()
        else:
            status, body = self._inventory_summaries(params)
        if status == 200 and faults.malformed:
            return self._reply(200, None, operation, text='{"sku": "')
        return self._reply(status, body, operation)

    def _reply(
        self,
        status: int,
        body: Any,
        operation: str | None,
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
    ) -> httpx.Response:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if operation is not None:
            self._issued += 1
            all_headers["x-amzn-RequestId"] = f"emu-{self._issued:08d}"
            all_headers["x-amzn-RateLimit-Limit"] = f"{self._rates[operation][0]:g}"
        content = text if text is not None else json.dumps(body)
        return httpx.Response(status, content=content.encode(), headers=all_headers)

    # --- Login with Amazon -------------------------------------------------------------------

    def _lwa(self, request: httpx.Request) -> httpx.Response:
        try:
            if "json" in request.headers.get("content-type", ""):
                form = {str(k): str(v) for k, v in json.loads(request.content).items()}
            else:
                form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        except (ValueError, AttributeError):
            return self._oauth_error(400, "invalid_request", "The request body is malformed")
        creds = self.credentials
        if form.get("grant_type") != "refresh_token":
            return self._oauth_error(400, "unsupported_grant_type", "Only refresh_token here")
        if (
            form.get("client_id") != creds.client_id
            or form.get("client_secret") != creds.client_secret
        ):
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        if form.get("refresh_token") != creds.refresh_token:
            return self._oauth_error(
                400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        token = self.issue_token()
        body = {
            "access_token": token,
            "refresh_token": creds.refresh_token,
            "token_type": "bearer",
            "expires_in": self.token_ttl,
        }
        return httpx.Response(200, json=body)

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> httpx.Response:
        return httpx.Response(status, json={"error": error, "error_description": description})

    def _check_token(self, token: str | None) -> str | None:
        if not token or token not in self._tokens:
            return "The access token you provided is revoked, malformed or invalid."
        if self.faults.expired_token or self._clock() >= self._tokens[token]:
            return "The access token you provided has expired."
        return None

    # --- getMarketplaceParticipations --------------------------------------------------------

    def render_participations(self) -> dict[str, Any]:
        """The seller's marketplaces: its own (participating) and one it left."""
        other = next(m for m in MARKETPLACES if m != self.marketplace_id)
        known = MARKETPLACES.get(self.marketplace_id, ("Amazon", "US", "USD", "en_US", "amazon"))
        rows = [(self.marketplace_id, known, True), (other, MARKETPLACES[other], False)]
        return {
            "payload": [
                {
                    "marketplace": {
                        "id": mid,
                        "name": name,
                        "countryCode": country,
                        "defaultCurrencyCode": currency,
                        "defaultLanguageCode": language,
                        "domainName": domain,
                    },
                    "participation": {
                        "isParticipating": participating,
                        "hasSuspendedListings": False,
                    },
                }
                for mid, (name, country, currency, language, domain), participating in rows
            ]
        }

    # --- getListingsItem ---------------------------------------------------------------------

    def _listings_item(
        self, seller_id: str, sku: str, params: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if seller_id != self.seller_id:
            return 403, _errors(403, "The seller in the path is not the authorized seller.")
        marketplaces = params.get("marketplaceIds", "").split(",")
        if self.marketplace_id not in marketplaces:
            return 400, _errors(
                400, "marketplaceIds: a marketplace this seller sells in is required"
            )
        included = [d for d in params.get("includedData", "summaries").split(",") if d]
        unknown = [d for d in included if d not in INCLUDED_DATA_ENUM]
        if unknown:
            return 400, _errors(400, f"includedData: unknown value(s) {', '.join(unknown)}")
        listing = self.listings.get(sku)
        if listing is None:
            message = f"SKU '{sku}' not found in marketplace {self.marketplace_id}"
            return 404, _errors(404, "", message)
        item = self.render_item(listing)
        return 200, {k: v for k, v in item.items() if k == "sku" or k in included}

    def _fba(self, listing: ChannelListing) -> bool:
        return listing.sku in self.fba_skus or listing.fulfilled_by == "marketplace"

    def render_item(self, listing: ChannelListing) -> dict[str, Any]:
        """The listings ``Item`` Amazon would show for ``listing`` (every includedData part)."""
        updated = last_updated(listing) or listing.read_at - timedelta(days=365)
        created = min([c.at for c in listing.status_history] + [updated])
        asin = _fake_id("B0", listing.sku)
        availability: dict[str, Any]
        if self._fba(listing):
            availability = {"fulfillmentChannelCode": self.fulfillment_channel}
        else:
            availability = {"fulfillmentChannelCode": "DEFAULT"}
            if listing.quantity is not None:  # Amazon omits a quantity it does not hold
                availability["quantity"] = max(listing.quantity, 0)
        return {
            "sku": listing.sku,
            "summaries": [
                {
                    "marketplaceId": self.marketplace_id,
                    "asin": asin,
                    "productType": "PRODUCT",
                    "conditionType": "new_new",
                    "status": status_list(listing),
                    "itemName": listing.sku,
                    "createdDate": _iso(created),
                    "lastUpdatedDate": _iso(updated),
                }
            ],
            "issues": [
                {
                    "code": issue.code,
                    "message": issue.message,
                    "severity": issue.severity.upper(),
                    "categories": [],
                    "marketplaceIds": [self.marketplace_id],
                    **(
                        {
                            "enforcements": {
                                "actions": [
                                    {"action": a} for a in issue.enforcement.split(",") if a
                                ],
                                "exemption": {"status": "NOT_EXEMPT"},
                            }
                        }
                        if issue.enforcement
                        else {}
                    ),
                }
                for issue in listing.issues
            ],
            "offers": [],
            "fulfillmentAvailability": [availability],
        }

    # --- getInventorySummaries ---------------------------------------------------------------

    def _inventory_summaries(self, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        missing = [
            p for p in ("granularityType", "granularityId", "marketplaceIds") if p not in params
        ]
        if missing:
            return 400, {"errors": _errors(400, f"{missing[0]} is required")["errors"]}
        if (
            params["granularityType"] != "Marketplace"
            or params["granularityId"] != self.marketplace_id
        ):
            return 400, {"errors": _errors(400, "granularity must be this Marketplace")["errors"]}
        if params["marketplaceIds"] != self.marketplace_id:
            return 400, {
                "errors": _errors(400, "marketplaceIds: exactly this marketplace")["errors"]
            }
        wanted = params.get("sellerSkus")
        skus = sorted(s for s, listing in self.listings.items() if self._fba(listing))
        if wanted is not None:
            skus = [s for s in skus if s in wanted.split(",")]
        elif "sellerSku" in params:
            skus = [s for s in skus if s == params["sellerSku"]]
        start = 0
        if "nextToken" in params:
            try:
                start = int(base64.urlsafe_b64decode(params["nextToken"]).decode().split(":")[1])
            except (ValueError, IndexError):
                return 400, {"errors": _errors(400, "nextToken is invalid or expired")["errors"]}
        page = skus[start : start + self.page_size]
        details = params.get("details") == "true"
        body: dict[str, Any] = {
            "payload": {
                "granularity": {
                    "granularityType": "Marketplace",
                    "granularityId": self.marketplace_id,
                },
                "inventorySummaries": [
                    self.render_inventory(self.listings[s], details) for s in page
                ],
            }
        }
        if start + self.page_size < len(skus):
            token = base64.urlsafe_b64encode(f"offset:{start + self.page_size}".encode()).decode()
            body["pagination"] = {"nextToken": token}
        return 200, body

    def render_inventory(self, listing: ChannelListing, details: bool = True) -> dict[str, Any]:
        """The FBA ``InventorySummary`` for ``listing``: all of its quantity is fulfillable. A
        listing whose quantity is unknown (None) gets a summary without any quantity."""
        quantity = max(listing.quantity or 0, 0)
        summary: dict[str, Any] = {
            "asin": _fake_id("B0", listing.sku),
            "fnSku": _fake_id("X0", listing.sku),
            "sellerSku": listing.sku,
            "condition": "NewItem",
            "productName": listing.sku,
            "totalQuantity": quantity,
        }
        if listing.last_inventory_feed_at is not None:
            summary["lastUpdatedTime"] = _iso(listing.last_inventory_feed_at)
        if listing.quantity is None:
            del summary["totalQuantity"]
        elif details:
            summary["inventoryDetails"] = {
                "fulfillableQuantity": quantity,
                "inboundWorkingQuantity": 0,
                "inboundShippedQuantity": 0,
                "inboundReceivingQuantity": 0,
                "reservedQuantity": {
                    "totalReservedQuantity": 0,
                    "pendingCustomerOrderQuantity": 0,
                    "pendingTransshipmentQuantity": 0,
                    "fcProcessingQuantity": 0,
                },
                "researchingQuantity": {
                    "totalResearchingQuantity": 0,
                    "researchingQuantityBreakdown": [],
                },
                "unfulfillableQuantity": {"totalUnfulfillableQuantity": 0},
            }
        return summary


def _fake_id(prefix: str, sku: str) -> str:
    """A stable 10-character Amazon-looking id (ASIN, FNSKU) for a SKU."""
    digits = f"{sum((i + 1) * ord(c) for i, c in enumerate(sku)) % 10**8:08d}"
    return f"{prefix}{digits}"
