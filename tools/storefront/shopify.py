"""Shopify storefront adapter over the Admin GraphQL API, pinned to version 2025-01.

Every call is ``POST https://{shop}.myshopify.com/admin/api/2025-01/graphql.json`` with the
access token in ``X-Shopify-Access-Token`` (read from the environment variable named in the
config, at request time). Queries are read-only, so they are retried like GETs; the cost
throttle (``tools.ratelimit.ShopifyCostThrottle``) paces us from ``extensions.cost``, and a
``THROTTLED`` error (HTTP 200) is retried after the throttle has waited for the bucket to refill.

Where each normalized field comes from (``StorefrontSnapshot``):

    sku, title, status         ProductVariant.sku, Product.title, Product.status (lower-cased)
    inventory_policy           ProductVariant.inventoryPolicy (DENY / CONTINUE)
    tracked                    InventoryItem.tracked
    available                  ProductVariant.inventoryQuantity ("total sellable quantity"),
                               else the sum of the levels' ``available``
    on_hand, committed         sums of InventoryLevel.quantities(names: ["on_hand", "committed"])
                               over every location (cursor-paginated); None without levels
    locations                  one per InventoryLevel: Location.id / name, the three quantities;
                               kind "dropship" for a Location.isFulfillmentService, else
                               "location" (Shopify has no warehouse or MSI-source kinds)
    out_of_stock_since         when the variant is out of stock: the latest
                               ``InventoryLevel.updatedAt`` (the last quantity change at any
                               location, i.e. the one that left it at zero), and
                               out_of_stock_since_field = "InventoryLevel.updatedAt". Shopify
                               keeps no out-of-stock timestamp of its own.
    webhooks                   QueryRoot.webhookSubscriptions: topic + endpoint (HTTP callback
                               URL, EventBridge ARN or ``pubsub://project:topic``). The Admin API
                               lists only the subscriptions of the app whose token we use: give
                               the bot the token of the app that registers the connector's
                               webhooks (or check Settings → Notifications → Webhooks).

Shopify has no field for the remaining facts. The Admin GraphQL API exposes no inventory
adjustment history (``inventoryAdjustQuantities`` and ``InventoryAdjustmentGroup`` are
write-side; ``InventoryItem.inventoryHistoryUrl`` is an admin page, not data), no holds and no
sync schedule. Apps that sync inventory commonly record these as variant metafields; this adapter
reads the namespace ``oos_triage`` when present and leaves the model's defaults when absent:

    holds                      ``oos_triage.holds``  list.single_line_text_field, e.g.
                               ["bulk edit in progress"]
    adjustments                ``oos_triage.inventory_history``  json: a list of
                               {at, before, after, reason, location_id?, actor?, note?}; reason
                               is ours (sale, receipt, …) or Shopify's adjustment reason name
                               (received, restock, cycle_count_available, …), mapped in shopify_graphql
    last_inventory_sync_at,    ``oos_triage.sync``  json: {"last_inventory_sync_at": ISO 8601,
    sync_interval_minutes      "sync_interval_minutes": int}

The GraphQL documents, their cost and the answers' shapes are in ``shopify_graphql``.
``ShopifyStorefront.catalog_stock()`` reads the whole catalog with a bulk operation
(``bulkOperationRunQuery`` → poll ``currentBulkOperation`` → download the JSONL file) for
monitoring, and implements ``tools.protocols.CatalogSource``. The file is streamed and parsed
line by line, never held whole. The download goes to Shopify's storage host without the access
token. Where its ``CatalogStock`` fields come from:

    sku, record                ProductVariant.sku, ProductVariant.id (variants without a SKU
                               are left out)
    quantity (available, every ProductVariant.inventoryQuantity: one line per variant
    location)
    quantity (on_hand, or a    the sum of InventoryLevel.quantities(names: ["available",
    subset of locations)       "on_hand"]) over the wanted Location.ids; each level is a line
                               of its own with ``__parentId``, after its variant's line
    tracked, inventory_policy, InventoryItem.tracked, ProductVariant.inventoryPolicy,
    status                     Product.status
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from tools.clock import utc_now
from tools.errors import AdapterError, ErrorKind
from tools.http import VendorClient
from tools.models import (
    CatalogStock,
    LocationQuantity,
    QuantityKind,
    Source,
    StorefrontSnapshot,
    WebhookSubscription,
)
from tools.ratelimit import ShopifyCostThrottle
from tools.retry import Clock, RetryPolicy, Sleep
from tools.storefront.shopify_graphql import (
    CATALOG_BULK_QUERY,
    CATALOG_LEVELS_BULK_QUERY,
    CURRENT_BULK_OPERATION,
    HISTORY,
    HOLDS,
    INVENTORY_LEVELS_PAGE,
    METAFIELD_NAMESPACE,
    RUN_CATALOG_BULK_QUERY,
    STOREFRONT_SKU,
    SYNC,
    VARIANTS_PAGE,
    WEBHOOKS_PAGE,
    BulkLevelLine,
    BulkLine,
    BulkOperation,
    BulkPoll,
    BulkRunPayload,
    Item,
    Level,
    LevelsPage,
    Metafield,
    SkuPage,
    SyncInfo,
    Variant,
    Webhook,
    Webhooks,
    WebhooksPage,
    Wire,
    connection_cost,
    expected_cost,
    sku_search,
    webhook_topic,
)

SYSTEM = "shopify"
API_VERSION = "2025-01"
API_PATH = f"/admin/api/{API_VERSION}/graphql.json"
TOKEN_HEADER = "X-Shopify-Access-Token"
DEFAULT_TOKEN_ENV = "SHOPIFY_ADMIN_TOKEN"
OUT_OF_STOCK_SINCE_FIELD = "InventoryLevel.updatedAt"
MAX_PAGE = 250  # Shopify's limit for `first` on any connection
MAX_VARIANT_PAGES = 10  # near matches to wade through before calling the SKU not found

_log = logging.getLogger(__name__)

# --- the adapter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageSizes:
    """``first`` for each connection; larger pages cost more of the throttle bucket."""

    variants: int = 5
    levels: int = 25
    webhooks: int = 25

    def __post_init__(self) -> None:
        for size in (self.variants, self.levels, self.webhooks):
            if not 1 <= size <= MAX_PAGE:
                raise ValueError(f"page sizes must be between 1 and {MAX_PAGE}")


_M = TypeVar("_M", bound=Wire)
Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return utc_now()


class ShopifyStorefront:
    """``StorefrontAdapter`` for one Shopify shop, e.g. ``ShopifyStorefront("acme")``."""

    system = SYSTEM

    def __init__(
        self,
        shop: str,
        *,
        token_env: str = DEFAULT_TOKEN_ENV,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        limiter: ShopifyCostThrottle | None = None,
        page_sizes: PageSizes | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        now: Now = _utcnow,
    ) -> None:
        self.shop = shop
        self.token_env = token_env
        self.base_url = (base_url or f"https://{shop}.myshopify.com").rstrip("/")
        self.pages = page_sizes or PageSizes()
        self._environ = os.environ if environ is None else environ
        self._retry = retry or RetryPolicy.interactive()
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._timeout = timeout or httpx.Timeout(10.0, connect=5.0)
        self._transport = transport
        self._client = VendorClient(
            SYSTEM,
            self.base_url,
            timeout=self._timeout,
            auth=self._authorize,
            limiter=limiter or ShopifyCostThrottle(clock=clock, sleep=sleep),
            retry=self._retry,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    @classmethod
    def from_settings(
        cls,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> ShopifyStorefront:
        """From a stack config entry: ``options.shop`` (the ``{shop}.myshopify.com`` name),
        ``credentials.access_token`` (the NAME of the env var holding the Admin API token) and
        an optional ``base_url`` override."""
        options = options or {}
        shop = options.get("shop")
        if not isinstance(shop, str) or not shop:
            raise ValueError("shopify: options.shop must name the shop ({shop}.myshopify.com)")
        token_env = (credentials or {}).get("access_token", DEFAULT_TOKEN_ENV)
        sizes = PageSizes(**options["page_sizes"]) if "page_sizes" in options else None
        return cls(
            shop,
            token_env=token_env,
            base_url=base_url,
            transport=transport,
            retry=retry,
            page_sizes=sizes,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _authorize(self, request: httpx.Request) -> None:
        token = self._environ.get(self.token_env)
        if not token:
            raise AdapterError(
                SYSTEM,
                "auth",
                f"environment variable {self.token_env} (Admin API access token) is not set",
            )
        request.headers[TOKEN_HEADER] = token

    # --- one SKU -------------------------------------------------------------------------------

    async def read_sku(self, sku: str) -> StorefrontSnapshot:
        """The variant with exactly this SKU, its inventory levels, metafields and the shop's
        webhook subscriptions. Raises ``AdapterError`` (``not_found`` when no variant has it)."""
        pages = self.pages
        search = sku_search(sku)
        variables: dict[str, Any] = {
            "query": search,
            "variants": pages.variants,
            "levels": pages.levels,
            "webhooks": pages.webhooks,
        }
        cost = expected_cost(pages.variants, pages.levels, pages.webhooks)
        first = await self._query(STOREFRONT_SKU, "StorefrontSku", variables, SkuPage, cost)
        variant = _exact(first.product_variants.nodes, sku)
        info = first.product_variants.page_info
        pages_read = 1
        while variant is None and info.has_next_page and info.end_cursor:
            if pages_read == MAX_VARIANT_PAGES:
                break
            pages_read += 1
            more = {"query": search, "variants": pages.variants, "levels": pages.levels}
            page = await self._query(
                VARIANTS_PAGE,
                "VariantsPage",
                {**more, "after": info.end_cursor},
                SkuPage,
                cost - connection_cost(pages.webhooks, 1),
            )
            variant = _exact(page.product_variants.nodes, sku)
            info = page.product_variants.page_info
        if variant is None:
            raise AdapterError(
                SYSTEM,
                "not_found",
                f"no product variant has SKU {sku!r} among {pages_read} page(s) of "
                f"productVariants(query: {search})",
                endpoint=f"POST {API_PATH}",
            )
        levels = await self._all_levels(variant.inventory_item)
        hooks = await self._all_webhooks(first.webhook_subscriptions)
        return self._snapshot(variant, levels, hooks)

    async def _all_levels(self, item: Item) -> list[Level]:
        levels = list(item.inventory_levels.nodes)
        info = item.inventory_levels.page_info
        while info.has_next_page and info.end_cursor:
            variables = {"id": item.id, "levels": self.pages.levels, "after": info.end_cursor}
            page = await self._query(
                INVENTORY_LEVELS_PAGE,
                "InventoryLevelsPage",
                variables,
                LevelsPage,
                2 + connection_cost(self.pages.levels, 1),
            )
            if page.inventory_item is None:
                raise self._bad(f"inventory item {item.id} disappeared while paging its levels")
            levels.extend(page.inventory_item.inventory_levels.nodes)
            info = page.inventory_item.inventory_levels.page_info
        return levels

    async def _all_webhooks(self, first: Webhooks | None) -> list[Webhook]:
        if first is None:
            raise self._bad("webhookSubscriptions missing from the answer")
        hooks = list(first.nodes)
        info = first.page_info
        while info.has_next_page and info.end_cursor:
            variables = {"webhooks": self.pages.webhooks, "after": info.end_cursor}
            page = await self._query(
                WEBHOOKS_PAGE,
                "WebhooksPage",
                variables,
                WebhooksPage,
                1 + connection_cost(self.pages.webhooks, 1),
            )
            hooks.extend(page.webhook_subscriptions.nodes)
            info = page.webhook_subscriptions.page_info
        return hooks

    def _snapshot(
        self, variant: Variant, levels: list[Level], hooks: list[Webhook]
    ) -> StorefrontSnapshot:
        locations = [
            LocationQuantity(
                location_id=level.location.id,
                name=level.location.name,
                # A fulfillment-service location is stock someone else ships (dropship, 3PL app).
                kind="dropship" if level.location.is_fulfillment_service else "location",
                available=level.quantity("available") or 0,
                on_hand=level.quantity("on_hand"),
                committed=level.quantity("committed"),
            )
            for level in levels
        ]
        available = (
            variant.inventory_quantity
            if variant.inventory_quantity is not None
            else sum(loc.available for loc in locations)
        )
        since = max((level.updated_at for level in levels), default=None)
        if available > 0:
            since = None
        sync = self._metafield(variant.sync, "sync", SYNC) or SyncInfo()
        history = self._metafield(variant.history, "inventory_history", HISTORY) or []
        webhooks = []
        for hook in hooks:
            topic, kind = webhook_topic(hook.topic)
            webhooks.append(
                WebhookSubscription(topic=topic, kind=kind, address=hook.endpoint.address)
            )
        raw_variant = variant.model_dump(mode="json", by_alias=True)
        raw_variant["inventoryItem"]["inventoryLevels"]["nodes"] = [
            level.model_dump(mode="json", by_alias=True) for level in levels
        ]
        return StorefrontSnapshot(
            source=Source(
                system=SYSTEM, endpoint=f"POST {API_PATH} (productVariants)", record=variant.id
            ),
            read_at=self._now(),
            raw={
                "productVariant": raw_variant,
                "webhookSubscriptions": [h.model_dump(mode="json", by_alias=True) for h in hooks],
            },
            sku=variant.sku or "",
            title=variant.product.title or None,
            status=_lower_status(variant.product.status),
            available=available,
            on_hand=_total(locations, "on_hand"),
            committed=_total(locations, "committed"),
            locations=locations,
            inventory_policy="continue" if variant.inventory_policy == "CONTINUE" else "deny",
            tracked=variant.inventory_item.tracked,
            out_of_stock_since=since,
            out_of_stock_since_field=OUT_OF_STOCK_SINCE_FIELD if since else None,
            last_inventory_sync_at=sync.last_inventory_sync_at,
            sync_interval_minutes=sync.sync_interval_minutes,
            holds=self._metafield(variant.holds, "holds", HOLDS) or [],
            adjustments=sorted((entry.adjustment() for entry in history), key=lambda a: a.at),
            webhooks=webhooks,
        )

    def _metafield(self, field: Metafield | None, key: str, shape: TypeAdapter[Any]) -> Any:
        if field is None:
            return None
        try:
            return shape.validate_python(field.json_value)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "value"
            raise self._bad(
                f"metafield {METAFIELD_NAMESPACE}.{key} ({field.type}) does not follow the "
                f"documented convention: {where}: {problem['msg']}"
            ) from None

    # --- whole catalog ---------------------------------------------------------------------------

    async def catalog_stock(
        self,
        *,
        measure: QuantityKind = "available",
        locations: Collection[str] | None = None,
        poll_interval: float = 5.0,
        max_wait: float = 3600.0,  # a million-variant export can take many minutes
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[CatalogStock]:
        """Every variant with a SKU, from one bulk operation (for monitoring scans).

        Starts ``bulkOperationRunQuery``, polls ``currentBulkOperation`` every
        ``poll_interval`` seconds for at most ``max_wait``, then streams the JSONL result.
        ``measure`` "available" over every location (``locations`` None) needs one line per
        variant; otherwise each variant's inventory levels are read too and ``measure`` is
        summed over the levels at ``locations`` (Location gids).
        """
        policy = retry or RetryPolicy.scan()
        by_level = measure != "available" or locations is not None
        started = await self._query(
            RUN_CATALOG_BULK_QUERY,
            "RunCatalogBulkQuery",
            {"query": CATALOG_LEVELS_BULK_QUERY if by_level else CATALOG_BULK_QUERY},
            BulkRunPayload,
            10,
            idempotent=False,
            retry=policy,
        )
        run = started.bulk_operation_run_query
        if run.user_errors or run.bulk_operation is None:
            text = "; ".join(e.message for e in run.user_errors) or "no operation was started"
            raise AdapterError(
                SYSTEM,
                "server_error",
                f"bulkOperationRunQuery: {text}",
                endpoint=f"POST {API_PATH}",
            )
        operation = await self._wait_for(run.bulk_operation.id, poll_interval, max_wait, policy)
        if operation.url is None:  # COMPLETED with no objects: Shopify gives no file
            return
        wanted = None if locations is None else frozenset(locations)
        async for item in self._download(operation.url, policy, measure, by_level, wanted):
            yield item

    async def _wait_for(
        self, operation_id: str, poll_interval: float, max_wait: float, policy: RetryPolicy
    ) -> BulkOperation:
        deadline = self._clock() + max_wait
        while True:
            poll = await self._query(
                CURRENT_BULK_OPERATION, "CurrentBulkOperation", {}, BulkPoll, 1, retry=policy
            )
            op = poll.current_bulk_operation
            if op is None or op.id != operation_id:
                raise self._bad(f"currentBulkOperation is not the operation we started ({op})")
            if op.status == "COMPLETED":
                return op
            if op.status in ("FAILED", "CANCELED", "CANCELING", "EXPIRED"):
                kind: ErrorKind = "timeout" if op.error_code == "TIMEOUT" else "server_error"
                raise AdapterError(
                    SYSTEM,
                    kind,
                    f"bulk operation {op.id} {op.status.lower()} ({op.error_code or 'no error code'})",
                    endpoint=f"POST {API_PATH}",
                )
            if self._clock() + poll_interval > deadline:
                raise AdapterError(
                    SYSTEM,
                    "timeout",
                    f"bulk operation {op.id} still {op.status.lower()} after {max_wait:.0f}s",
                    endpoint=f"POST {API_PATH}",
                )
            await self._sleep(poll_interval)

    async def _download(
        self,
        url: str,
        policy: RetryPolicy,
        measure: QuantityKind,
        by_level: bool,
        wanted: frozenset[str] | None,
    ) -> AsyncIterator[CatalogStock]:
        # A separate client without the auth hook: the file is on Shopify's storage host, and
        # the signed URL is itself a credential, so it is masked in logs and errors.
        storage = VendorClient(
            SYSTEM,
            url,
            timeout=httpx.Timeout(60.0, connect=10.0),
            retry=policy,
            transport=self._transport,
            sleep=self._sleep,
            clock=self._clock,
        )
        storage.redactor.add(url, httpx.URL(url).query.decode())
        source = Source(system=SYSTEM, endpoint="bulkOperationRunQuery (productVariants JSONL)")
        read_at = self._now()
        variant: BulkLine | None = None
        levels: list[BulkLevelLine] = []
        async with storage, storage.stream(url) as response:
            number = 0
            async for line in response.aiter_lines():
                number += 1
                if not line.strip():
                    continue
                if by_level and '"__parentId"' in line:
                    level = self._bulk_line(BulkLevelLine, line, number)
                    if variant is None or level.parent_id != variant.id:
                        raise self._bad(
                            f"bulk result line {number}: an inventory level of "
                            f"{level.parent_id} that does not follow its variant's line"
                        )
                    levels.append(level)
                    continue
                if variant is not None and variant.sku:
                    yield self._stock(variant, levels, source, read_at, measure, by_level, wanted)
                variant, levels = self._bulk_line(BulkLine, line, number), []
        if variant is not None and variant.sku:
            yield self._stock(variant, levels, source, read_at, measure, by_level, wanted)

    def _bulk_line(self, shape: type[_M], line: str, number: int) -> _M:
        try:
            return shape.model_validate_json(line)
        except ValidationError as exc:
            raise self._bad(f"bulk result line {number}: {exc.errors()[0]['msg']}") from None

    @staticmethod
    def _stock(
        row: BulkLine,
        levels: list[BulkLevelLine],
        source: Source,
        read_at: datetime,
        measure: QuantityKind,
        by_level: bool,
        wanted: frozenset[str] | None,
    ) -> CatalogStock:
        breakdown = None
        if by_level:
            breakdown = [
                LocationQuantity(
                    location_id=level.location.id,
                    name=level.location.name,
                    available=level.quantity("available") or 0,
                    on_hand=level.quantity("on_hand"),
                )
                for level in levels
                if wanted is None or level.location.id in wanted
            ]
            quantity = sum(
                (loc.available if measure == "available" else loc.on_hand) or 0 for loc in breakdown
            )
        else:
            quantity = row.inventory_quantity or 0
        return CatalogStock(
            source=source,
            read_at=read_at,
            sku=row.sku or "",
            quantity=quantity,
            measure=measure,
            locations=breakdown,
            record=row.id,
            tracked=row.inventory_item.tracked,
            inventory_policy="continue" if row.inventory_policy == "CONTINUE" else "deny",
            status=_lower_status(row.product.status),
        )

    # --- GraphQL plumbing ------------------------------------------------------------------------

    async def _query(
        self,
        document: str,
        operation: str,
        variables: Mapping[str, Any],
        shape: type[_M],
        cost: int,
        *,
        idempotent: bool = True,
        retry: RetryPolicy | None = None,
    ) -> _M:
        """Send one GraphQL operation and validate its ``data`` into ``shape``.

        A ``THROTTLED`` answer is sent again (up to the policy's attempts): the throttle has
        just learnt from ``extensions.cost`` how empty the bucket is and waits before sending.
        """
        policy = retry or self._retry
        body = {"query": document, "operationName": operation, "variables": dict(variables)}
        # Shopify does not run a throttled operation, so even a mutation may be sent again.
        attempts = policy.max_attempts
        for attempt in range(1, attempts + 1):
            answer = await self._client.post_json(
                API_PATH, body, idempotent=idempotent, cost=cost, retry=policy
            )
            if not isinstance(answer, dict):
                raise self._bad(f"{operation}: the answer is not a JSON object")
            errors = answer.get("errors")
            if not errors:
                try:
                    return shape.model_validate(answer.get("data"))
                except ValidationError as exc:
                    problem = exc.errors()[0]
                    where = ".".join(str(p) for p in problem["loc"])
                    raise self._bad(f"{operation}: {where}: {problem['msg']}") from None
            code, message = _first_error(errors)
            if code == "THROTTLED" and attempt < attempts:
                _log.info("shopify %s throttled, attempt %d/%d", operation, attempt, attempts)
                continue
            raise self._graphql_error(operation, code, message, answer)
        raise AssertionError("unreachable: the loop returns or raises")

    def _graphql_error(
        self, operation: str, code: str | None, message: str, answer: Mapping[str, Any]
    ) -> AdapterError:
        kind: ErrorKind = {
            "THROTTLED": "rate_limited",
            "ACCESS_DENIED": "auth",
            "INTERNAL_SERVER_ERROR": "server_error",
        }.get(code or "", "bad_payload")  # type: ignore[assignment]
        detail = f"{code}: {message}" if code else message
        if code == "THROTTLED":
            cost = answer.get("extensions", {}).get("cost", {})
            status = cost.get("throttleStatus", {})
            detail += (
                f" (query cost {cost.get('requestedQueryCost')}, "
                f"{status.get('currentlyAvailable')} of {status.get('maximumAvailable')} left)"
            )
        text = self._client.redactor.redact(f"{operation}: {detail}")
        error = AdapterError(SYSTEM, kind, text, endpoint=f"POST {API_PATH}")
        _log.warning("%s", error)
        return error

    def _bad(self, message: str) -> AdapterError:
        error = AdapterError(
            SYSTEM,
            "bad_payload",
            self._client.redactor.redact(message),
            endpoint=f"POST {API_PATH}",
        )
        _log.warning("%s", error)
        return error


def _exact(variants: list[Variant], sku: str) -> Variant | None:
    """Shopify's search also returns near matches; only the exact SKU counts."""
    return next((v for v in variants if v.sku == sku), None)


def _total(locations: list[LocationQuantity], name: Literal["on_hand", "committed"]) -> int | None:
    values = [getattr(loc, name) for loc in locations if getattr(loc, name) is not None]
    return sum(values) if values else None


def _lower_status(status: str) -> Literal["active", "draft", "archived"]:
    return {"ACTIVE": "active", "DRAFT": "draft"}.get(status, "archived")  # type: ignore[return-value]


def _first_error(errors: Any) -> tuple[str | None, str]:
    """Code and message of the first GraphQL error (``errors`` may also be a plain string)."""
    if isinstance(errors, str):
        return None, errors
    first = errors[0] if isinstance(errors, list) and errors else {}
    if not isinstance(first, dict):
        return None, str(first)
    extensions = first.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return (str(code) if code else None), str(first.get("message", "no message"))
