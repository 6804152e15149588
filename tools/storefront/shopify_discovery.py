"""What ``oos discover`` and ``oos check-config`` read from a Shopify shop: its locations, the
webhook subscriptions the app can see, and the access scopes the app was granted.

Admin GraphQL 2025-01, read-only, through the adapter's client (token, cost throttle, retries):

    DiscoverShop     ``locations(first:, includeLegacy: true)`` (``id``, ``name``, ``isActive``,
                     ``fulfillsOnlineOrders``, ``isFulfillmentService``), the first page of
                     ``webhookSubscriptions`` and ``currentAppInstallation.accessScopes``
                     (``handle``); further pages with ``LocationsPage`` / ``WebhooksPage``

``webhookSubscriptions`` lists only the subscriptions *this* app created: a connector's own
(Celigo's Shopify app, say) are invisible to it, so an empty list does not mean "no webhooks".
``currentAppInstallation.accessScopes`` needs no scope of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from tools.storefront.shopify import ShopifyStorefront
from tools.storefront.shopify_graphql import (
    _WEBHOOK_FIELDS,
    WEBHOOKS_PAGE,
    PageInfo,
    Webhooks,
    WebhooksPage,
    Wire,
)

_LOCATION_FIELDS = """
fragment LocationFields on Location {
  id
  name
  isActive
  fulfillsOnlineOrders
  isFulfillmentService
}
"""

DISCOVER_SHOP = (
    """
query DiscoverShop($locations: Int!, $webhooks: Int!) {
  locations(first: $locations, includeLegacy: true) {
    nodes { ...LocationFields }
    pageInfo { hasNextPage endCursor }
  }
  webhookSubscriptions(first: $webhooks) {
    nodes { ...WebhookFields }
    pageInfo { hasNextPage endCursor }
  }
  currentAppInstallation { accessScopes { handle } }
}
"""
    + _LOCATION_FIELDS
    + _WEBHOOK_FIELDS
)

LOCATIONS_PAGE = (
    """
query LocationsPage($locations: Int!, $after: String!) {
  locations(first: $locations, after: $after, includeLegacy: true) {
    nodes { ...LocationFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + _LOCATION_FIELDS
)

DOCUMENTS = {"DiscoverShop": DISCOVER_SHOP, "LocationsPage": LOCATIONS_PAGE}
PAGE = 50


class ShopLocation(Wire):
    id: str
    name: str
    is_active: bool = Field(alias="isActive")
    fulfills_online_orders: bool = Field(alias="fulfillsOnlineOrders")
    is_fulfillment_service: bool = Field(alias="isFulfillmentService")


class _Locations(Wire):
    nodes: list[ShopLocation]
    page_info: PageInfo = Field(alias="pageInfo")


class _Scope(Wire):
    handle: str


class _Installation(Wire):
    access_scopes: list[_Scope] = Field(alias="accessScopes")


class _Discovered(Wire):
    locations: _Locations
    webhook_subscriptions: Webhooks = Field(alias="webhookSubscriptions")
    current_app_installation: _Installation = Field(alias="currentAppInstallation")


class _LocationsPage(Wire):
    locations: _Locations


@dataclass(frozen=True)
class ShopWebhook:
    topic: str  # INVENTORY_LEVELS_UPDATE
    address: str  # callback URL, EventBridge ARN or pubsub://project:topic


@dataclass(frozen=True)
class ShopifyShop:
    locations: list[ShopLocation]
    webhooks: list[ShopWebhook]
    scopes: frozenset[str]


async def discover_shopify(adapter: ShopifyStorefront) -> ShopifyShop:
    first = await adapter._query(
        DISCOVER_SHOP, "DiscoverShop", {"locations": PAGE, "webhooks": PAGE}, _Discovered
    )
    locations = list(first.locations.nodes)
    info = first.locations.page_info
    while info.has_next_page and info.end_cursor:
        page = await adapter._query(
            LOCATIONS_PAGE,
            "LocationsPage",
            {"locations": PAGE, "after": info.end_cursor},
            _LocationsPage,
        )
        locations.extend(page.locations.nodes)
        info = page.locations.page_info
    hooks = list(first.webhook_subscriptions.nodes)
    info = first.webhook_subscriptions.page_info
    while info.has_next_page and info.end_cursor:
        more = await adapter._query(
            WEBHOOKS_PAGE,
            "WebhooksPage",
            {"webhooks": PAGE, "after": info.end_cursor},
            WebhooksPage,
        )
        hooks.extend(more.webhook_subscriptions.nodes)
        info = more.webhook_subscriptions.page_info
    return ShopifyShop(
        locations=locations,
        webhooks=[ShopWebhook(h.topic, h.endpoint.address) for h in hooks],
        scopes=frozenset(s.handle for s in first.current_app_installation.access_scopes),
    )
