"""Shopify storefront adapter over the Admin GraphQL API.

Every call is ``POST https://{shop}.myshopify.com/admin/api/{version}/graphql.json`` with the
access token in ``X-Shopify-Access-Token`` (read from the environment variable named in the
config, at request time). ``version`` is ``options.api_version`` (default ``API_VERSION``, a
release supported in December 2026; the documents are validated against the published 2025-01
schema). Shopify supports a version about 12 months after its release and then answers with the
oldest supported one, so ``oos check-config`` warns 90 days before (``version_warning``, from the
version string and the clock). Queries are read-only, so they are retried like GETs.

Cost: every document's requested cost is computed by Shopify's documented rules
(``shopify_graphql.requested_cost``: objects 1, a connection 2 + ``first`` × its node, so nested
connections multiply) and charged to the cost throttle (``tools.ratelimit.ShopifyCostThrottle``),
which paces us from ``extensions.cost``; page sizes whose query would exceed Shopify's
single-query maximum of 1000 are refused when the config loads (``PageSizes``). The actual cost
of each answer is logged (``oos -v``). A ``THROTTLED`` error (HTTP 200) is retried after the
throttle has waited for the bucket to refill. A GraphQL ``errors`` entry whose ``path`` is a
field the triage can do without (the ``oos_triage`` metafields, ``webhookSubscriptions``) keeps
the rest of the answer; any other error fails the read.

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
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    MAX_QUERY_COST,
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
    requested_cost,
    sku_search,
    webhook_topic,
)

SYSTEM = "shopify"
# Shopify releases a version each quarter (YYYY-01, -04, -07, -10) and supports it for about
# 12 months; the default is one supported at the time of writing (December 2026).
API_VERSION = "2026-10"
SUPPORT_MONTHS = 12
WARN_DAYS = 90  # check-config warns this long before a version's retirement
_VERSION = re.compile(r"^(?P<year>20\d\d)-(?P<month>01|04|07|10)$")
TOKEN_HEADER = "X-Shopify-Access-Token"
DEFAULT_TOKEN_ENV = "SHOPIFY_ADMIN_TOKEN"
OUT_OF_STOCK_SINCE_FIELD = "InventoryLevel.updatedAt"
MAX_PAGE = 250  # Shopify's limit for `first` on any connection
MAX_VARIANT_PAGES = 10  # near matches to wade through before calling the SKU not found

_log = logging.getLogger(__name__)

# --- the adapter -------------------------------------------------------------------------------


def api_path(version: str) -> str:
    return f"/admin/api/{version}/graphql.json"


API_PATH = api_path(API_VERSION)


def check_api_version(version: str) -> str:
    """``version`` if it names a Shopify release (YYYY-01, -04, -07 or -10), else ValueError."""
    if not _VERSION.match(version):
        raise ValueError(
            f"api_version {version!r} is not a Shopify release: YYYY-01, YYYY-04, YYYY-07 or YYYY-10"
        )
    return version


def version_retirement(version: str) -> datetime:
    """When Shopify stops serving ``version``: about 12 months after its release (the 1st of
    its month); a request for a retired version is answered by the oldest supported one."""
    match = _VERSION.match(check_api_version(version))
    assert match is not None
    months = int(match["year"]) * 12 + int(match["month"]) - 1 + SUPPORT_MONTHS
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


def version_warning(version: str, now: datetime) -> str | None:
    """What check-config says about ``version`` at ``now``: retired, near retirement, or None."""
    retires = version_retirement(version)
    when = retires.date().isoformat()
    if now >= retires:
        return (
            f"Shopify API version {version} was retired about {when}: Shopify now answers with the "
            "oldest supported version instead; set options.api_version to a supported one"
        )
    if now >= retires - timedelta(days=WARN_DAYS):
        return (
            f"Shopify API version {version} is retired about {when}: move options.api_version "
            "to a newer release before then"
        )
    return None


@dataclass(frozen=True)
class PageSizes:
    """``first`` for each connection; larger pages cost more of the throttle bucket, and no
    query may cost more than Shopify's single-query maximum (1000), so sizes whose query would
    are refused when the config loads."""

    variants: int = 5
    levels: int = 25
    webhooks: int = 25

    def __post_init__(self) -> None:
        for size in (self.variants, self.levels, self.webhooks):
            if not 1 <= size <= MAX_PAGE:
                raise ValueError(f"page sizes must be between 1 and {MAX_PAGE}")
        dearest = max(self.costs().items(), key=lambda kv: kv[1])
        if dearest[1] > MAX_QUERY_COST:
            raise ValueError(
                f"page sizes variants={self.variants}, levels={self.levels}, "
                f"webhooks={self.webhooks} make {dearest[0]} cost {dearest[1]}, over Shopify's "
                f"single-query maximum of {MAX_QUERY_COST}; with these variants and webhooks, "
                f"levels may be at most {self._largest_levels()}"
            )

    def variables(self) -> dict[str, int]:
        return {"variants": self.variants, "levels": self.levels, "webhooks": self.webhooks}

    def costs(self) -> dict[str, int]:
        """The requested cost of each query a read sends, with these sizes."""
        v = self.variables()
        return {
            "StorefrontSku": requested_cost(STOREFRONT_SKU, v),
            "VariantsPage": requested_cost(VARIANTS_PAGE, v),
            "InventoryLevelsPage": requested_cost(INVENTORY_LEVELS_PAGE, v),
            "WebhooksPage": requested_cost(WEBHOOKS_PAGE, v),
        }

    def _largest_levels(self) -> int:
        fits = [
            n
            for n in range(1, MAX_PAGE + 1)
            if requested_cost(STOREFRONT_SKU, {**self.variables(), "levels": n}) <= MAX_QUERY_COST
        ]
        return max(fits, default=0)


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
        api_version: str = API_VERSION,
    ) -> None:
        self.shop = shop
        self.api_version = check_api_version(api_version)
        self.api_path = api_path(api_version)
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
            # Until the first answer tells the shop's own bucket: a standard plan's 2000 points
            # restoring 100 a second (the emulator's defaults too).
            limiter=limiter
            or ShopifyCostThrottle(maximum=2000.0, restore_rate=100.0, clock=clock, sleep=sleep),
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
        clock: Callable[[], datetime] | None = None,
    ) -> ShopifyStorefront:
        """From a stack config entry: ``options.shop`` (the ``{shop}.myshopify.com`` name),
        ``credentials.access_token`` (the NAME of the env var holding the Admin API token) and
        an optional ``base_url`` override."""
        options = options or {}
        shop = options.get("shop")
        if not isinstance(shop, str) or not shop:
            raise ValueError("shopify: options.shop must name the shop ({shop}.myshopify.com)")
        token_env = (credentials or {}).get("access_token", DEFAULT_TOKEN_ENV)
        sizes = PageSizes(**options["page_sizes"]) if options.get("page_sizes") else None
        return cls(
            shop,
            token_env=token_env,
            base_url=base_url,
            transport=transport,
            retry=retry,
            page_sizes=sizes,
            api_version=options.get("api_version") or API_VERSION,
            now=clock or _utcnow,
        )

    def config_warnings(self, now: datetime) -> list[str]:
        """For ``oos check-config``: the API version near or past its retirement."""
        warning = version_warning(self.api_version, now)
        return [warning] if warning else []

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
        variables: dict[str, Any] = {"query": search, **pages.variables()}
        first = await self._query(
            STOREFRONT_SKU, "StorefrontSku", variables, SkuPage, tolerate=_OPTIONAL_FIELDS
        )
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
                tolerate=_OPTIONAL_FIELDS,
            )
            variant = _exact(page.product_variants.nodes, sku)
            info = page.product_variants.page_info
        if variant is None:
            raise AdapterError(
                SYSTEM,
                "not_found",
                f"no product variant has SKU {sku!r} among {pages_read} page(s) of "
                f"productVariants(query: {search})",
                endpoint=f"POST {self.api_path}",
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
                INVENTORY_LEVELS_PAGE, "InventoryLevelsPage", variables, LevelsPage
            )
            if page.inventory_item is None:
                raise self._bad(f"inventory item {item.id} disappeared while paging its levels")
            levels.extend(page.inventory_item.inventory_levels.nodes)
            info = page.inventory_item.inventory_levels.page_info
        return levels

    async def _all_webhooks(self, first: Webhooks | None) -> list[Webhook]:
        if first is None:
            # Left out by a GraphQL error on a field the triage can do without (an app without
            # the webhooks scope): the order-webhook check has nothing to read.
            return []
        hooks = list(first.nodes)
        info = first.page_info
        while info.has_next_page and info.end_cursor:
            variables = {"webhooks": self.pages.webhooks, "after": info.end_cursor}
            page = await self._query(WEBHOOKS_PAGE, "WebhooksPage", variables, WebhooksPage)
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
                system=SYSTEM,
                endpoint=f"POST {self.api_path} (productVariants)",
                record=variant.id,
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
                endpoint=f"POST {self.api_path}",
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
                CURRENT_BULK_OPERATION, "CurrentBulkOperation", {}, BulkPoll, retry=policy
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
                    endpoint=f"POST {self.api_path}",
                )
            if self._clock() + poll_interval > deadline:
                raise AdapterError(
                    SYSTEM,
                    "timeout",
                    f"bulk operation {op.id} still {op.status.lower()} after {max_wait:.0f}s",
                    endpoint=f"POST {self.api_path}",
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
        *,
        idempotent: bool = True,
        retry: RetryPolicy | None = None,
        tolerate: Collection[str] = (),
    ) -> _M:
        """Send one GraphQL operation and validate its ``data`` into ``shape``.

        The throttle is charged the operation's requested cost, computed by Shopify's rules
        (``requested_cost``); the actual cost Shopify reports in ``extensions.cost`` is logged
        (``oos -v``). A ``THROTTLED`` answer is sent again (up to the policy's attempts): the
        throttle has just learnt from ``extensions.cost`` how empty the bucket is and waits
        before sending. An answer with ``errors`` whose every entry's ``path`` goes through a
        field in ``tolerate`` (one the triage can do without) keeps its partial ``data``.
        """
        policy = retry or self._retry
        cost = requested_cost(document, variables)
        body = {"query": document, "operationName": operation, "variables": dict(variables)}
        # Shopify does not run a throttled operation, so even a mutation may be sent again.
        attempts = policy.max_attempts
        for attempt in range(1, attempts + 1):
            answer = await self._client.post_json(
                self.api_path, body, idempotent=idempotent, cost=cost, retry=policy
            )
            if not isinstance(answer, dict):
                raise self._bad(f"{operation}: the answer is not a JSON object")
            self._log_cost(operation, cost, answer)
            errors = answer.get("errors")
            if not errors or _only_on(errors, tolerate, answer.get("data")):
                if errors:
                    _log.warning(
                        "shopify %s: kept the partial answer: %s",
                        operation,
                        self._client.redactor.redact("; ".join(_messages(errors))),
                    )
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

    @staticmethod
    def _log_cost(operation: str, requested: int, answer: Mapping[str, Any]) -> None:
        extensions = answer.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return
        status = cost.get("throttleStatus") or {}
        _log.info(
            "shopify %s cost: requested %s (computed %d), actual %s; %s of %s left",
            operation,
            cost.get("requestedQueryCost"),
            requested,
            cost.get("actualQueryCost"),
            status.get("currentlyAvailable"),
            status.get("maximumAvailable"),
        )

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
        error = AdapterError(SYSTEM, kind, text, endpoint=f"POST {self.api_path}")
        _log.warning("%s", error)
        return error

    def _bad(self, message: str) -> AdapterError:
        error = AdapterError(
            SYSTEM,
            "bad_payload",
            self._client.redactor.redact(message),
            endpoint=f"POST {self.api_path}",
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


# Fields a triage can do without: the oos_triage metafields (their absence leaves the model's
# defaults) and the shop's webhook subscriptions (the order-webhook check then has none to read).
_OPTIONAL_FIELDS = frozenset({"holds", "history", "sync", "webhookSubscriptions"})


def _only_on(errors: Any, tolerate: Collection[str], data: Any) -> bool:
    """Whether every GraphQL error concerns a field in ``tolerate`` (by its ``path``) and the
    answer still has data."""
    if not tolerate or not isinstance(data, dict) or not isinstance(errors, list):
        return False
    return all(
        isinstance(e, dict)
        and isinstance(e.get("path"), list)
        and any(part in tolerate for part in e["path"])
        for e in errors
    )


def _messages(errors: list[Any]) -> list[str]:
    return [str(e.get("message", "no message")) for e in errors if isinstance(e, dict)]


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
