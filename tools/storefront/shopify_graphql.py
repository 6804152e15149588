"""Shopify Admin GraphQL 2025-01 wire format: the documents the adapter sends, their cost,
the shapes of the answers, the ``oos_triage`` metafield conventions and webhook topic names.

Only ``tools.storefront.shopify`` and its tests use this module; the contract tests validate
every document here against the published Admin schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    parse,
)
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tools.models import AdjustmentReason, EventKind, InventoryAdjustment

METAFIELD_NAMESPACE = "oos_triage"

# --- GraphQL documents (each validated against the 2025-01 Admin schema by the tests) ---------

_LEVEL_FIELDS = """
fragment LevelFields on InventoryLevel {
  id
  location { id name isFulfillmentService }
  quantities(names: ["available", "on_hand", "committed"]) { name quantity }
  updatedAt
}
"""

_VARIANT_FIELDS = (
    """
fragment VariantFields on ProductVariant {
  id
  sku
  inventoryPolicy
  inventoryQuantity
  product { id title status }
  inventoryItem {
    id
    tracked
    inventoryLevels(first: $levels) {
      nodes { ...LevelFields }
      pageInfo { hasNextPage endCursor }
    }
  }
  holds: metafield(namespace: "oos_triage", key: "holds") { type jsonValue }
  history: metafield(namespace: "oos_triage", key: "inventory_history") { type jsonValue }
  sync: metafield(namespace: "oos_triage", key: "sync") { type jsonValue }
}
"""
    + _LEVEL_FIELDS
)

_WEBHOOK_FIELDS = """
fragment WebhookFields on WebhookSubscription {
  id
  topic
  endpoint {
    __typename
    ... on WebhookHttpEndpoint { callbackUrl }
    ... on WebhookEventBridgeEndpoint { arn }
    ... on WebhookPubSubEndpoint { pubSubProject pubSubTopic }
  }
}
"""

STOREFRONT_SKU = (
    """
query StorefrontSku($query: String!, $variants: Int!, $levels: Int!, $webhooks: Int!) {
  productVariants(first: $variants, query: $query) {
    nodes { ...VariantFields }
    pageInfo { hasNextPage endCursor }
  }
  webhookSubscriptions(first: $webhooks) {
    nodes { ...WebhookFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + _VARIANT_FIELDS
    + _WEBHOOK_FIELDS
)

VARIANTS_PAGE = (
    """
query VariantsPage($query: String!, $variants: Int!, $levels: Int!, $after: String!) {
  productVariants(first: $variants, query: $query, after: $after) {
    nodes { ...VariantFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + _VARIANT_FIELDS
)

INVENTORY_LEVELS_PAGE = (
    """
query InventoryLevelsPage($id: ID!, $levels: Int!, $after: String!) {
  inventoryItem(id: $id) {
    id
    inventoryLevels(first: $levels, after: $after) {
      nodes { ...LevelFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + _LEVEL_FIELDS
)

WEBHOOKS_PAGE = (
    """
query WebhooksPage($webhooks: Int!, $after: String!) {
  webhookSubscriptions(first: $webhooks, after: $after) {
    nodes { ...WebhookFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + _WEBHOOK_FIELDS
)

RUN_CATALOG_BULK_QUERY = """
mutation RunCatalogBulkQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

CURRENT_BULK_OPERATION = """
query CurrentBulkOperation {
  currentBulkOperation(type: QUERY) {
    id
    status
    errorCode
    objectCount
    url
    partialDataUrl
  }
}
"""

# The query the bulk operation runs: no `first`, Shopify pages through the whole catalog.
CATALOG_BULK_QUERY = """
{
  productVariants {
    edges {
      node {
        id
        sku
        inventoryQuantity
        inventoryPolicy
        inventoryItem { tracked }
        product { status }
      }
    }
  }
}
"""

# The same with every inventory level, for scans that compare on-hand quantities or sum a subset
# of locations. Shopify writes each level as its own line after its variant's line (objects are
# grouped under their parent), carrying the variant's id as ``__parentId``.
CATALOG_LEVELS_BULK_QUERY = """
{
  productVariants {
    edges {
      node {
        id
        sku
        inventoryQuantity
        inventoryPolicy
        inventoryItem {
          tracked
          inventoryLevels {
            edges {
              node {
                location { id name }
                quantities(names: ["available", "on_hand"]) { name quantity }
              }
            }
          }
        }
        product { status }
      }
    }
  }
}
"""

DOCUMENTS: dict[str, str] = {
    "StorefrontSku": STOREFRONT_SKU,
    "VariantsPage": VARIANTS_PAGE,
    "InventoryLevelsPage": INVENTORY_LEVELS_PAGE,
    "WebhooksPage": WEBHOOKS_PAGE,
    "RunCatalogBulkQuery": RUN_CATALOG_BULK_QUERY,
    "CurrentBulkOperation": CURRENT_BULK_OPERATION,
}


# --- requested cost ---------------------------------------------------------------------------

MAX_QUERY_COST = 1000  # Shopify refuses a query whose requested cost exceeds it, before running it
_MUTATION_COST = 10
_PAGE_ARGUMENTS = ("first", "last")


def requested_cost(document: str, variables: Mapping[str, Any]) -> int:
    """Shopify's requested cost of ``document`` with ``variables``, by its documented rules
    (``../shared/specs/VERIFIED-2026-12.md`` S1): a scalar or enum costs 0, an object 1, a
    mutation 10; a connection (a field with ``first``/``last``) costs 2 plus ``first`` times one
    node (the node itself, 1, with everything it selects), so nested connections multiply; of
    the inline fragments on a union or interface, the dearest counts."""
    parsed = parse(document)
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    base = _MUTATION_COST if operation.operation == OperationType.MUTATION else 0
    return base + _selections_cost(operation.selection_set, fragments, variables)


def _selections_cost(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total, alternatives = 0, [0]
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(selection, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            total += _selections_cost(fragment.selection_set, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            alternatives.append(_selections_cost(selection.selection_set, fragments, variables))
    return total + max(alternatives)


def _field_cost(
    field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]
) -> int:
    if field.selection_set is None:
        return 0  # a scalar or an enum
    size = _page_size(field, variables)
    if size is None:
        return 1 + _selections_cost(field.selection_set, fragments, variables)
    node = 0
    for part in field.selection_set.selections:
        if not isinstance(part, FieldNode):
            continue
        if part.name.value == "nodes":
            node = max(node, 1 + _selections_cost(part.selection_set, fragments, variables))
        elif part.name.value == "edges" and part.selection_set is not None:
            for edge in part.selection_set.selections:
                if isinstance(edge, FieldNode) and edge.name.value == "node":
                    inner = _selections_cost(edge.selection_set, fragments, variables)
                    node = max(node, 1 + inner)
    return 2 + size * node  # pageInfo is part of the connection's two points


def _page_size(field: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value not in _PAGE_ARGUMENTS:
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return int(found) if isinstance(found, int) else None
        if isinstance(value, IntValueNode):
            return int(value.value)
    return None


# --- wire shapes ------------------------------------------------------------------------------


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class PageInfo(Wire):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: str | None = Field(default=None, alias="endCursor")


class Quantity(Wire):
    name: str
    quantity: int


class Location(Wire):
    id: str
    name: str
    is_fulfillment_service: bool = Field(alias="isFulfillmentService")


class Level(Wire):
    id: str
    location: Location
    quantities: list[Quantity]
    updated_at: datetime = Field(alias="updatedAt")

    def quantity(self, name: str) -> int | None:
        return next((q.quantity for q in self.quantities if q.name == name), None)


class Levels(Wire):
    nodes: list[Level]
    page_info: PageInfo = Field(alias="pageInfo")


class ItemLevels(Wire):
    id: str
    inventory_levels: Levels = Field(alias="inventoryLevels")


class Item(ItemLevels):
    tracked: bool


class Product(Wire):
    id: str
    title: str
    status: Literal["ACTIVE", "ARCHIVED", "DRAFT"]


class Metafield(Wire):
    type: str
    json_value: Any = Field(alias="jsonValue")


class Variant(Wire):
    id: str
    sku: str | None
    inventory_policy: Literal["DENY", "CONTINUE"] = Field(alias="inventoryPolicy")
    inventory_quantity: int | None = Field(alias="inventoryQuantity")
    product: Product
    inventory_item: Item = Field(alias="inventoryItem")
    holds: Metafield | None = None
    history: Metafield | None = None
    sync: Metafield | None = None


class Variants(Wire):
    nodes: list[Variant]
    page_info: PageInfo = Field(alias="pageInfo")


class Endpoint(Wire):
    typename: str = Field(alias="__typename")
    callback_url: str | None = Field(default=None, alias="callbackUrl")
    arn: str | None = None
    pub_sub_project: str | None = Field(default=None, alias="pubSubProject")
    pub_sub_topic: str | None = Field(default=None, alias="pubSubTopic")

    @property
    def address(self) -> str:
        if self.pub_sub_project is not None:
            return f"pubsub://{self.pub_sub_project}:{self.pub_sub_topic}"
        return self.callback_url or self.arn or ""


class Webhook(Wire):
    id: str
    topic: str
    endpoint: Endpoint


class Webhooks(Wire):
    nodes: list[Webhook]
    page_info: PageInfo = Field(alias="pageInfo")


class SkuPage(Wire):
    product_variants: Variants = Field(alias="productVariants")
    webhook_subscriptions: Webhooks | None = Field(default=None, alias="webhookSubscriptions")


class LevelsPage(Wire):
    inventory_item: ItemLevels | None = Field(alias="inventoryItem")


class WebhooksPage(Wire):
    webhook_subscriptions: Webhooks = Field(alias="webhookSubscriptions")


class BulkOperation(Wire):
    id: str
    status: str
    error_code: str | None = Field(default=None, alias="errorCode")
    url: str | None = None
    partial_data_url: str | None = Field(default=None, alias="partialDataUrl")


class UserError(Wire):
    field: list[str] | None = None
    message: str


class BulkRun(Wire):
    bulk_operation: BulkOperation | None = Field(alias="bulkOperation")
    user_errors: list[UserError] = Field(alias="userErrors")


class BulkRunPayload(Wire):
    bulk_operation_run_query: BulkRun = Field(alias="bulkOperationRunQuery")


class BulkPoll(Wire):
    current_bulk_operation: BulkOperation | None = Field(alias="currentBulkOperation")


class BulkLine(Wire):
    class _Tracked(Wire):
        tracked: bool

    class _Status(Wire):
        status: Literal["ACTIVE", "ARCHIVED", "DRAFT"]

    id: str
    sku: str | None = None
    inventory_quantity: int | None = Field(default=None, alias="inventoryQuantity")
    inventory_policy: Literal["DENY", "CONTINUE"] = Field(alias="inventoryPolicy")
    inventory_item: _Tracked = Field(alias="inventoryItem")
    product: _Status


class BulkLevelLine(Wire):
    """An inventory level's line in a ``CATALOG_LEVELS_BULK_QUERY`` result."""

    class _Location(Wire):
        id: str
        name: str

    parent_id: str = Field(alias="__parentId")
    location: _Location
    quantities: list[Quantity]

    def quantity(self, name: str) -> int | None:
        return next((q.quantity for q in self.quantities if q.name == name), None)


# --- metafield conventions ---------------------------------------------------------------------

# Shopify's own inventory adjustment reason names, for apps that record them as they are.
_SHOPIFY_REASONS: dict[str, AdjustmentReason] = {
    "received": "receipt",
    "movement_received": "receipt",
    "restock": "return",
    "correction": "correction",
    "cycle_count_available": "correction",
    "damaged": "manual",
    "shrinkage": "manual",
    "quality_control": "manual",
    "safety_stock": "manual",
    "promotion": "promotion",
    "order": "sale",
}
_OUR_REASONS: frozenset[str] = frozenset(AdjustmentReason.__args__)  # type: ignore[attr-defined]


class HistoryEntry(Wire):
    at: datetime
    before: int
    after: int
    reason: str = "other"
    location_id: str | None = None
    actor: str | None = None
    note: str | None = None

    def adjustment(self) -> InventoryAdjustment:
        reason: AdjustmentReason = (
            self.reason  # type: ignore[assignment]
            if self.reason in _OUR_REASONS
            else _SHOPIFY_REASONS.get(self.reason, "other")
        )
        return InventoryAdjustment(
            at=self.at,
            before=self.before,
            after=self.after,
            reason=reason,
            location_id=self.location_id,
            actor=self.actor,
            note=self.note,
        )


class SyncInfo(Wire):
    last_inventory_sync_at: datetime | None = None
    sync_interval_minutes: int | None = None


HOLDS = TypeAdapter(list[str])
HISTORY = TypeAdapter(list[HistoryEntry])
SYNC = TypeAdapter(SyncInfo)

# --- webhook topics ----------------------------------------------------------------------------

# The enum value is the REST topic with '/' turned into '_'; the split is ambiguous, so the
# topics the engine reasons about are spelled out.
_TOPICS: dict[str, tuple[str, EventKind]] = {
    "INVENTORY_LEVELS_UPDATE": ("inventory_levels/update", "inventory_update"),
    "INVENTORY_LEVELS_CONNECT": ("inventory_levels/connect", "other"),
    "INVENTORY_LEVELS_DISCONNECT": ("inventory_levels/disconnect", "other"),
    "INVENTORY_ITEMS_UPDATE": ("inventory_items/update", "other"),
    "ORDERS_CREATE": ("orders/create", "order_created"),
    "ORDERS_PAID": ("orders/paid", "order_created"),
    "ORDERS_FULFILLED": ("orders/fulfilled", "order_fulfilled"),
    "ORDERS_PARTIALLY_FULFILLED": ("orders/partially_fulfilled", "order_fulfilled"),
    "FULFILLMENTS_CREATE": ("fulfillments/create", "order_fulfilled"),
    "ORDERS_RISK_ASSESSMENT_CHANGED": ("orders/risk_assessment_changed", "other"),
    "ORDERS_SHOPIFY_PROTECT_ELIGIBILITY_CHANGED": (
        "orders/shopify_protect_eligibility_changed",
        "other",
    ),
    "PRODUCTS_UPDATE": ("products/update", "other"),
    "BULK_OPERATIONS_FINISH": ("bulk_operations/finish", "other"),
}


def webhook_topic(enum_value: str) -> tuple[str, EventKind]:
    """The REST-style topic name and event kind of a ``WebhookSubscriptionTopic`` value."""
    if enum_value in _TOPICS:
        return _TOPICS[enum_value]
    resource, _, action = enum_value.lower().rpartition("_")
    return (f"{resource}/{action}" if resource else action), "other"


def topic_enum(topic: str) -> str:
    """``inventory_levels/update`` → ``INVENTORY_LEVELS_UPDATE``."""
    return topic.upper().replace("/", "_")


def sku_search(sku: str) -> str:
    """The ``productVariants(query:)`` filter for one SKU, quoted for Shopify's search syntax."""
    escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
    return f'sku:"{escaped}"'
