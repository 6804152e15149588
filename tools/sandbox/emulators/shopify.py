"""Shopify Admin GraphQL emulator: an httpx transport that serves storefront snapshots.

``ShopifyEmulator(state, faults=Faults(...))`` answers ``POST https://{shop}.myshopify.com/admin/
api/{version}/graphql.json`` (any quarterly release) the way Shopify does for the operations the Shopify adapter sends
(dispatched by ``operationName``; the contract tests check those documents against the real
schema, so the emulator does not parse GraphQL):

    StorefrontSku, VariantsPage    productVariants(query: "sku:…") — a prefix match, as Shopify's
                                   search also returns near matches — with cursor pagination
    InventoryLevelsPage            inventoryItem(id:).inventoryLevels, cursor-paginated
    WebhooksPage                   webhookSubscriptions, cursor-paginated
    DiscoverShop, LocationsPage    locations (every snapshot's, once; a dropship location is a
                                   fulfillment service), the first webhook page and
                                   currentAppInstallation.accessScopes (``scopes=``), for
                                   ``oos discover`` / ``oos check-config``
    RunCatalogBulkQuery            bulkOperationRunQuery: one bulk query at a time per app
    CurrentBulkOperation           RUNNING for ``bulk_polls`` polls, then COMPLETED with a signed
                                   storage URL that this transport also serves (JSONL, streamed
                                   in chunks; a query that selects ``inventoryLevels`` gets one
                                   line per level after its variant's, with ``__parentId``)

``catalog=`` adds a generated catalog (any ``VariantCatalog``, e.g. ``tools.sandbox.catalog``)
to what bulk operations export: its variants are rendered one at a time as the file streams, so
a million-variant shop never exists in memory. Single-SKU reads serve the snapshots only.

It enforces ``X-Shopify-Access-Token`` (401 with Shopify's body otherwise), the single-query
maximum (a requested cost over 1000 answers ``MAX_COST_EXCEEDED``; each operation's requested and
actual cost are worked out by hand from Shopify's documented rules: objects 1, a connection 2 +
``first`` × its node) and the cost-based throttle: a bucket of ``maximum`` points restoring ``restore_rate`` per second on an injectable
clock, ``extensions.cost`` on every answer and a ``THROTTLED`` error (HTTP 200) when the query's
requested cost exceeds what is left. ``Faults`` adds latency, scripted statuses (429 with
``Retry-After``, 5xx), read timeouts, malformed bodies and expired tokens.

How a snapshot is rendered: the variant's ``inventoryQuantity`` is ``available``; each location
becomes an inventory level (at a fulfillment-service location when its kind is ``dropship``)
whose ``available`` / ``on_hand`` / ``committed`` are the location's, with a missing ``on_hand``
/ ``committed`` filled so the levels add up to the snapshot's totals (Shopify always reports
every quantity name); a level's ``updatedAt`` is ``out_of_stock_since`` when the SKU is out of
stock, else the last adjustment at that location; holds, history and sync times become
``oos_triage`` metafields as ``tools.storefront.shopify`` documents. Webhooks
are shop-wide: the union of every snapshot's.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from tools.models import LocationQuantity, StorefrontSnapshot
from tools.ratelimit import Clock, Sleep
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.scenario import Unreadable

API_PATH = "/admin/api/2026-10/graphql.json"
# Any quarterly release: Shopify answers a retired one with its oldest supported version.
_API_PATH = re.compile(r"^/admin/api/20\d\d-(?:01|04|07|10)/graphql\.json$")
MAX_QUERY_COST = 1000  # Shopify's single-query maximum, whatever the bucket's size
STORAGE_HOST = "storage.googleapis.com"
STORAGE_PREFIX = "/shopify-tiers-assets-prod-us-east1/bulk-operation-outputs/"
MAX_FIRST = 250
# What the app is granted unless a test says otherwise: the scopes oos-triage's reads need.
DEFAULT_SCOPES = ("read_products", "read_inventory", "read_locations")

UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_STATUS_BODIES: dict[int, Any] = {
    401: UNAUTHORIZED,
    404: "Not Found",
    429: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_BULK_CHUNK = 2000  # JSONL lines per streamed chunk


@dataclass(frozen=True, slots=True)
class CatalogLevel:
    """A generated variant's stock at one location (``location_id`` is a Location gid)."""

    location_id: str
    name: str
    available: int
    on_hand: int


@dataclass(frozen=True, slots=True)
class CatalogVariant:
    """One variant of a generated catalog, rendered as ``gid://shopify/ProductVariant/{number}``."""

    number: int
    sku: str | None
    available: int  # inventoryQuantity
    levels: tuple[CatalogLevel, ...] = ()
    inventory_policy: str = "deny"
    tracked: bool = True
    status: str = "active"


class VariantCatalog(Protocol):
    """A catalog the emulator pages through lazily (numbers must not collide with snapshots':
    start them above the snapshot count)."""

    def __len__(self) -> int: ...

    def variants(self) -> Iterator[CatalogVariant]: ...


_SKU_QUERY = re.compile(r'^sku:(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>\S+))$')


def _conn(first: int, per_node: int) -> int:
    return 2 + first * per_node


def _null_fields(
    data: Any, names: dict[str, str], path: tuple[Any, ...] = ()
) -> list[tuple[str, list[Any]]]:
    """Sets every field of ``data`` named in ``names`` to null; returns (name, path) of each."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(data, dict):
        for key in list(data):
            if key in names:
                data[key] = None
                found.append((key, [*path, key]))
            else:
                found += _null_fields(data[key], names, (*path, key))
    elif isinstance(data, list):
        for n, item in enumerate(data):
            found += _null_fields(item, names, (*path, n))
    return found


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _cursor(index: int) -> str:
    return base64.b64encode(json.dumps({"last_id": index + 1}).encode()).decode()


def _after(cursor: str | None) -> int:
    """The index to start at after ``cursor``."""
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise _GraphQLError("Invalid cursor for current pagination sort.", "BAD_REQUEST") from None


class _GraphQLError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _first(variables: dict[str, Any], name: str) -> int:
    first = variables.get(name)
    if not isinstance(first, int) or not 0 < first <= MAX_FIRST:
        raise _GraphQLError(
            f"Variable ${name}: the 'first' argument must be between 1 and {MAX_FIRST}.",
            "BAD_REQUEST",
        )
    return first


def _page(items: Sequence[dict[str, Any]], first: int, after: Any) -> dict[str, Any]:
    start = _after(after)
    chunk = items[start : start + first]
    end = start + len(chunk)
    return {
        "nodes": list(chunk),
        "pageInfo": {
            "hasNextPage": end < len(items),
            "endCursor": _cursor(end - 1) if chunk else None,
        },
    }


def stocked_locations(snapshot: StorefrontSnapshot) -> list[LocationQuantity]:
    """The inventory levels Shopify would hold for ``snapshot``: Shopify keeps a tracked
    variant's stock at its locations only, so a scenario that states just the totals gets them
    at the shop's one location."""
    if snapshot.locations or not snapshot.tracked:
        return list(snapshot.locations)
    return [
        LocationQuantity(
            location_id="gid://shopify/Location/1",
            name="Shop location",
            available=snapshot.available,
            on_hand=snapshot.on_hand,
            committed=snapshot.committed,
        )
    ]


class _Variant:
    """One snapshot rendered as Shopify objects."""

    def __init__(self, n: int, snapshot: StorefrontSnapshot) -> None:
        self.snapshot = snapshot
        self.id = f"gid://shopify/ProductVariant/{n}"
        self.item_id = f"gid://shopify/InventoryItem/{n}"
        self.product_id = f"gid://shopify/Product/{n}"
        self.locations = stocked_locations(snapshot)
        self.levels = [self._level(n, k, loc) for k, loc in enumerate(self.locations, 1)]

    def _level(self, n: int, k: int, loc: LocationQuantity) -> dict[str, Any]:
        on_hand = loc.on_hand if loc.on_hand is not None else self._fill("on_hand", loc)
        committed = loc.committed if loc.committed is not None else self._fill("committed", loc)
        return {
            "id": f"gid://shopify/InventoryLevel/{n * 1000 + k}?inventory_item_id={n}",
            "location": {
                "id": loc.location_id,
                "name": loc.name,
                "isFulfillmentService": loc.kind == "dropship",
            },
            "quantities": [
                {"name": "available", "quantity": loc.available},
                {"name": "on_hand", "quantity": on_hand},
                {"name": "committed", "quantity": committed},
            ],
            "updatedAt": _iso(self._updated_at(loc)),
            "_location": loc,
        }

    def _fill(self, name: str, loc: LocationQuantity) -> int:
        """A quantity the snapshot left out at ``loc``: the rest of the snapshot's total goes to
        the first location without a value, so the levels add up."""
        total = getattr(self.snapshot, name)
        locations = self.locations
        missing = [x for x in locations if getattr(x, name) is None]
        if total is None:
            return loc.available if name == "on_hand" else 0
        if missing[0] is not loc:
            return 0
        return int(total) - sum(getattr(x, name) or 0 for x in locations)

    def _updated_at(self, loc: LocationQuantity) -> datetime:
        s = self.snapshot
        if s.available <= 0 and s.out_of_stock_since is not None:
            return s.out_of_stock_since
        here = [a.at for a in s.adjustments if a.location_id in (loc.location_id, None)]
        return max(here, default=s.read_at - timedelta(days=1))

    def node(self, first_levels: int) -> dict[str, Any]:
        s = self.snapshot
        levels = _page([_public(level) for level in self.levels], first_levels, None)
        return {
            "id": self.id,
            "sku": s.sku,
            "inventoryPolicy": s.inventory_policy.upper(),
            "inventoryQuantity": s.available,
            "product": {"id": self.product_id, "title": s.title or "", "status": s.status.upper()},
            "inventoryItem": {"id": self.item_id, "tracked": s.tracked, "inventoryLevels": levels},
            "holds": self._holds(),
            "history": self._history(),
            "sync": self._sync(),
        }

    def _holds(self) -> dict[str, Any] | None:
        holds = self.snapshot.holds
        if not holds:
            return None
        return {"type": "list.single_line_text_field", "jsonValue": list(holds)}

    def _history(self) -> dict[str, Any] | None:
        adjustments = self.snapshot.adjustments
        if not adjustments:
            return None
        entries = [
            {k: _iso(v) if isinstance(v, datetime) else v for k, v in a.model_dump().items()}
            for a in adjustments
        ]
        return {
            "type": "json",
            "jsonValue": [{k: v for k, v in e.items() if v is not None} for e in entries],
        }

    def _sync(self) -> dict[str, Any] | None:
        s = self.snapshot
        value: dict[str, Any] = {}
        if s.last_inventory_sync_at is not None:
            value["last_inventory_sync_at"] = _iso(s.last_inventory_sync_at)
        if s.sync_interval_minutes is not None:
            value["sync_interval_minutes"] = s.sync_interval_minutes
        return {"type": "json", "jsonValue": value} if value else None

    def bulk_line(self) -> dict[str, Any]:
        s = self.snapshot
        return {
            "id": self.id,
            "sku": s.sku,
            "inventoryQuantity": s.available,
            "inventoryPolicy": s.inventory_policy.upper(),
            "inventoryItem": {"tracked": s.tracked},
            "product": {"status": s.status.upper()},
        }

    def bulk_level_lines(self) -> list[dict[str, Any]]:
        return [
            _level_line(
                self.id,
                level["location"]["id"],
                level["location"]["name"],
                level["quantities"][0]["quantity"],
                level["quantities"][1]["quantity"],
            )
            for level in self.levels
        ]


def _level_line(
    parent: str, location: str, name: str, available: int, on_hand: int
) -> dict[str, Any]:
    return {
        "location": {"id": location, "name": name},
        "quantities": [
            {"name": "available", "quantity": available},
            {"name": "on_hand", "quantity": on_hand},
        ],
        "__parentId": parent,
    }


def _catalog_lines(v: CatalogVariant, levels: bool) -> list[dict[str, Any]]:
    gid = f"gid://shopify/ProductVariant/{v.number}"
    lines: list[dict[str, Any]] = [
        {
            "id": gid,
            "sku": v.sku,
            "inventoryQuantity": v.available,
            "inventoryPolicy": v.inventory_policy.upper(),
            "inventoryItem": {"tracked": v.tracked},
            "product": {"status": v.status.upper()},
        }
    ]
    if levels:
        lines += [_level_line(gid, x.location_id, x.name, x.available, x.on_hand) for x in v.levels]
    return lines


def _public(level: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in level.items() if not k.startswith("_")}


def _webhook_node(k: int, topic: str, address: str) -> dict[str, Any]:
    endpoint: dict[str, Any]
    if address.startswith("arn:"):
        endpoint = {"__typename": "WebhookEventBridgeEndpoint", "arn": address}
    elif address.startswith("pubsub://"):
        project, _, pubsub_topic = address.removeprefix("pubsub://").partition(":")
        endpoint = {
            "__typename": "WebhookPubSubEndpoint",
            "pubSubProject": project,
            "pubSubTopic": pubsub_topic,
        }
    else:
        endpoint = {"__typename": "WebhookHttpEndpoint", "callbackUrl": address}
    return {
        "id": f"gid://shopify/WebhookSubscription/{k}",
        "topic": topic.upper().replace("/", "_"),
        "endpoint": endpoint,
    }


class ShopifyEmulator(httpx.AsyncBaseTransport):
    """Serves ``state`` (one snapshot or a catalog of them) as a Shopify shop's Admin API."""

    def __init__(
        self,
        state: StorefrontSnapshot | Sequence[StorefrontSnapshot],
        faults: Faults | None = None,
        *,
        shop: str = "oos-sandbox",
        token: str = "shpat_sandbox_token_0000",
        maximum: float = 2000.0,
        restore_rate: float = 100.0,
        bulk_polls: int = 1,
        bulk_error: str | None = None,
        down: Scripted | None = None,
        unreachable: bool = False,
        catalog: VariantCatalog | None = None,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        field_errors: dict[str, str] | None = None,
    ) -> None:
        """``field_errors`` (a field name → a GraphQL error code, e.g. ``{"holds":
        "ACCESS_DENIED"}``) answers that field null wherever it appears, with an ``errors``
        entry carrying its ``path``, as Shopify does for a field the app may not read."""
        self.field_errors = dict(field_errors or {})
        snapshots = [state] if isinstance(state, StorefrontSnapshot) else list(state)
        self.catalog = catalog
        if not all(isinstance(s, StorefrontSnapshot) for s in snapshots):
            raise TypeError("ShopifyEmulator serves StorefrontSnapshots; see emulator_for()")
        self.faults = faults or Faults()
        self.shop = shop
        self.token = token
        self.maximum = maximum
        self.restore_rate = restore_rate
        self.bulk_polls = bulk_polls
        self.bulk_error = bulk_error
        self.down = down  # answered to every call: a shop that keeps failing
        self.unreachable = unreachable
        self.scopes = list(scopes)
        self.requests: list[httpx.Request] = []
        self._clock = clock
        self._sleep = sleep
        self._available = maximum
        self._stamp = clock()
        self._variants = [_Variant(n, s) for n, s in enumerate(snapshots, 1)]
        self._items = {v.item_id: v for v in self._variants}
        hooks = dict.fromkeys((w.topic, w.address) for s in snapshots for w in s.webhooks)
        self._webhooks = [_webhook_node(k, t, a) for k, (t, a) in enumerate(hooks, 1)]
        places = {loc.location_id: loc for v in self._variants for loc in v.locations}
        self._locations = [
            {
                "id": loc.location_id,
                "name": loc.name,
                "isActive": True,
                "fulfillsOnlineOrders": True,
                "isFulfillmentService": loc.kind == "dropship",
            }
            for loc in places.values()
        ]
        self._bulk: dict[str, Any] | None = None
        self._bulk_count = 0
        self._signature = base64.urlsafe_b64encode(f"sig-{shop}".encode()).decode()
        self._ops: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], int, int]]] = {
            "StorefrontSku": self._storefront_sku,
            "VariantsPage": self._variants_page,
            "InventoryLevelsPage": self._levels_page,
            "WebhooksPage": self._webhooks_page,
            "DiscoverShop": self._discover_shop,
            "LocationsPage": self._locations_page,
            "RunCatalogBulkQuery": self._run_bulk,
            "CurrentBulkOperation": self._current_bulk,
        }

    @property
    def base_url(self) -> str:
        return f"https://{self.shop}.myshopify.com"

    @property
    def graphql_calls(self) -> int:
        return sum(1 for r in self.requests if _API_PATH.match(r.url.path))

    # --- transport -----------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        faults = self.faults
        if faults.latency:
            await self._sleep(faults.latency)
        if faults.timeout:
            raise httpx.ReadTimeout("emulated read timeout", request=request)
        if self.unreachable:
            raise httpx.ConnectError("emulated connection refused", request=request)
        scripted = faults.next_status() or self.down
        if scripted is not None:
            return self._scripted(scripted)
        if request.url.host == STORAGE_HOST:
            return self._storage(request)
        if request.url.host != f"{self.shop}.myshopify.com" or not _API_PATH.match(
            request.url.path
        ):
            return _json(404, {"errors": "Not Found"})
        if faults.expired_token or request.headers.get("X-Shopify-Access-Token") != self.token:
            return _json(401, {"errors": UNAUTHORIZED})
        if request.method != "POST":
            return _json(405, {"errors": "Method Not Allowed"})
        if faults.malformed:
            return httpx.Response(
                200,
                content=b'{"data": {"productVariants": {"nodes": [{"id": "gid://shopify/Pro',
                headers={"Content-Type": "application/json"},
            )
        try:
            body = json.loads(await request.aread())
            operation = body["operationName"]
            variables = body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return _json(400, {"errors": {"query": "Required parameter missing or invalid"}})
        return self._graphql(operation, variables)

    def _scripted(self, scripted: Scripted) -> httpx.Response:
        headers = {}
        if scripted.retry_after is not None:
            headers["Retry-After"] = f"{scripted.retry_after:.1f}"
        if scripted.status == 401:
            return _json(401, {"errors": UNAUTHORIZED})
        text = _STATUS_BODIES.get(scripted.status, "Error")
        return _json(scripted.status, {"errors": text}, headers)

    def _graphql(self, operation: str, variables: dict[str, Any]) -> httpx.Response:
        handler = self._ops.get(operation)
        if handler is None:
            return self._errors(
                f"The emulator does not serve operation {operation!r}", "undefinedOperation"
            )
        self._refill()
        try:
            data, requested, actual = handler(variables)
        except _GraphQLError as exc:
            return self._errors(exc.message, exc.code)
        if requested > MAX_QUERY_COST:
            return self._errors(
                f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
                "MAX_COST_EXCEEDED",
                requested,
            )
        if requested > self._available:
            return _json(
                200,
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": self._cost(requested, None),
                },
            )
        self._available -= actual
        answer: dict[str, Any] = {"data": data, "extensions": self._cost(requested, actual)}
        errors = [
            {
                "message": f"Access denied for {name} field.",
                "locations": [{"line": 1, "column": 1}],
                "path": path,
                "extensions": {"code": self.field_errors[name]},
            }
            for name, path in _null_fields(data, self.field_errors)
        ]
        if errors:
            answer["errors"] = errors
        return _json(200, answer)

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(
            self.maximum, self._available + (now - self._stamp) * self.restore_rate
        )
        self._stamp = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum,
                    "currentlyAvailable": int(self._available),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def _errors(self, message: str, code: str, requested: int = 1) -> httpx.Response:
        body = {
            "errors": [{"message": message, "extensions": {"code": code}}],
            "extensions": self._cost(requested, None),
        }
        return _json(200, body)

    # --- operations: each returns (data, requested cost, actual cost) ---------------------------

    def _matching(self, search: Any) -> list[_Variant]:
        match = _SKU_QUERY.match(search) if isinstance(search, str) else None
        if match is None:
            raise _GraphQLError(
                f"Unsupported search query in the emulator: {search!r}", "BAD_REQUEST"
            )
        quoted = match.group("quoted")
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group("bare")
        return [v for v in self._variants if v.snapshot.sku.lower().startswith(term.lower())]

    def _variant_page(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        matching = self._matching(v.get("query"))
        levels, first = _first(v, "levels"), _first(v, "variants")
        page = _page([{"_v": x} for x in matching], first, v.get("after"))
        nodes = [item["_v"].node(levels) for item in page["nodes"]]
        # Shopify's rules: a connection 2 + first × node; a variant node is itself, product,
        # inventoryItem and three metafields (6) plus its levels connection; a level node is
        # itself, its location and its quantities (3).
        requested = _conn(first, 6 + _conn(levels, 3))
        actual = _conn(len(nodes), 6) + sum(
            _conn(len(n["inventoryItem"]["inventoryLevels"]["nodes"]), 3) for n in nodes
        )
        return (
            {"productVariants": {"nodes": nodes, "pageInfo": page["pageInfo"]}},
            requested,
            actual,
        )

    def _storefront_sku(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        data, requested, actual = self._variant_page({**v, "after": None})
        hooks, hook_requested, hook_actual = self._webhooks_page({**v, "after": None})
        data.update(hooks)
        return data, requested + hook_requested, actual + hook_actual

    def _variants_page(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        return self._variant_page(v)

    def _levels_page(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        variant = self._items.get(v.get("id", ""))
        first = _first(v, "levels")
        if variant is None:
            return {"inventoryItem": None}, 1 + _conn(first, 3), 1
        page = _page([_public(level) for level in variant.levels], first, v.get("after"))
        item = {"id": variant.item_id, "inventoryLevels": page}
        return {"inventoryItem": item}, 1 + _conn(first, 3), 1 + _conn(len(page["nodes"]), 3)

    def _webhooks_page(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        first = _first(v, "webhooks")
        page = _page(self._webhooks, first, v.get("after"))
        # a webhook node is itself and its endpoint (a union: one object)
        return {"webhookSubscriptions": page}, _conn(first, 2), _conn(len(page["nodes"]), 2)

    def _locations_page(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        first = _first(v, "locations")
        page = _page(self._locations, first, v.get("after"))
        return {"locations": page}, 1 + _conn(first, 1), 1 + _conn(len(page["nodes"]), 1)

    def _discover_shop(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        data, requested, actual = self._locations_page({**v, "after": None})
        hooks, hook_requested, hook_actual = self._webhooks_page({**v, "after": None})
        scopes = [{"handle": h} for h in self.scopes]
        data |= hooks | {"currentAppInstallation": {"accessScopes": scopes}}
        return data, requested + hook_requested + 1, actual + hook_actual + 1

    def _run_bulk(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        query = v.get("query")
        errors: list[dict[str, Any]] = []
        if self._bulk is not None and self._bulk["status"] in ("CREATED", "RUNNING"):
            errors.append(
                {
                    "field": ["query"],
                    "message": f"A bulk query operation for this app and shop is already in progress: {self._bulk['id']}.",
                }
            )
        elif not isinstance(query, str) or "productVariants" not in query:
            errors.append(
                {
                    "field": ["query"],
                    "message": "Invalid bulk query: the emulator serves productVariants only",
                }
            )
        operation = None
        if not errors:
            self._bulk_count += 1
            self._bulk = {
                "id": f"gid://shopify/BulkOperation/{self._bulk_count}",
                "status": "CREATED",
                "polls": self.bulk_polls,
                "levels": "inventoryLevels" in str(query),
            }
            operation = {"id": self._bulk["id"], "status": "CREATED"}
        payload = {"bulkOperationRunQuery": {"bulkOperation": operation, "userErrors": errors}}
        return payload, 10, 10

    def _current_bulk(self, v: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        bulk = self._bulk
        if bulk is None:
            return {"currentBulkOperation": None}, 1, 1
        if bulk["status"] in ("CREATED", "RUNNING"):
            if bulk["polls"] > 0:
                bulk["polls"] -= 1
                bulk["status"] = "RUNNING"
            else:
                bulk["status"] = "FAILED" if self.bulk_error else "COMPLETED"
        done = bulk["status"] == "COMPLETED"
        count = len(self._variants) + len(self.catalog or ()) if done else 0
        node = {
            "id": bulk["id"],
            "status": bulk["status"],
            "errorCode": self.bulk_error if bulk["status"] == "FAILED" else None,
            "objectCount": str(count),
            "url": self._storage_url(bulk["id"]) if done and count else None,
            "partialDataUrl": None,
        }
        return {"currentBulkOperation": node}, 1, 1

    # --- the bulk result file --------------------------------------------------------------------

    def _storage_url(self, operation_id: str) -> str:
        number = operation_id.rsplit("/", 1)[-1]
        return (
            f"https://{STORAGE_HOST}{STORAGE_PREFIX}{number}-final"
            f"?GoogleAccessId=emulator%40shopify-tiers.iam.gserviceaccount.com"
            f"&Expires=4102444800&Signature={self._signature}"
        )

    def _storage(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("Signature") != self._signature:
            xml = (
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"
                "<Message>The request signature we calculated does not match the signature you provided.</Message></Error>"
            )
            return httpx.Response(403, text=xml, headers={"Content-Type": "application/xml"})
        if self._bulk is None or not request.url.path.startswith(STORAGE_PREFIX):
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        return httpx.Response(
            200,
            content=self._bulk_file(bool(self._bulk["levels"])),
            headers={"Content-Type": "application/jsonl"},
        )

    async def _bulk_file(self, levels: bool) -> AsyncIterator[bytes]:
        """The result file in chunks, rendered as it is read: snapshots, then the catalog."""
        chunk: list[str] = []
        for v in self._variants:
            lines = [v.bulk_line(), *(v.bulk_level_lines() if levels else [])]
            chunk += [json.dumps(line) for line in lines]
        for variant in self.catalog.variants() if self.catalog is not None else ():
            chunk += [json.dumps(line) for line in _catalog_lines(variant, levels)]
            if len(chunk) >= _BULK_CHUNK:
                yield ("\n".join(chunk) + "\n").encode()
                chunk = []
        if chunk:
            yield ("\n".join(chunk) + "\n").encode()


def emulator_for(state: StorefrontSnapshot | Unreadable, **options: Any) -> ShopifyEmulator:
    """An emulator for a scenario's storefront: its snapshot, or a shop that fails the way the
    scenario's ``Unreadable`` says (``not_found``: a shop without that SKU)."""
    if isinstance(state, StorefrontSnapshot):
        return ShopifyEmulator(state, **options)
    faults = dataclasses.replace(options.pop("faults", None) or Faults())
    if state.kind == "auth":
        faults.expired_token = True
    elif state.kind == "timeout":
        faults.timeout = True
    elif state.kind == "bad_payload":
        faults.malformed = True
    elif state.kind == "unreachable":
        options["unreachable"] = True
    elif state.kind in ("rate_limited", "server_error"):
        status = 429 if state.kind == "rate_limited" else state.status or 503
        options["down"] = Scripted(status, retry_after=1.0 if status == 429 else None)
    return ShopifyEmulator([], faults, **options)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        json=body,
        headers={"X-Request-Id": "emulator", **(headers or {})},
    )
