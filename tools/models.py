"""Normalized facts that adapters return and the engine reasons over.

Every vendor's field names stop at its adapter: what leaves ``tools/`` is one of these models.
Each snapshot carries where it came from (``source``) and when it was read (``read_at``), and
keeps the vendor's raw payload for the evidence file. Quantities are units; times are aware
UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Model):
    """Where a fact was read: the system, the endpoint or report, and the record if any."""

    system: str
    endpoint: str
    record: str | None = None

    def cite(self) -> str:
        record = f" · {self.record}" if self.record else ""
        return f"{self.system} {self.endpoint}{record}"


class Snapshot(Model):
    source: Source
    read_at: datetime
    raw: dict[str, Any] | None = Field(default=None, repr=False)


# --- events and records shared by several layers ------------------------------------------

EventKind = Literal[
    "inventory_update",  # a quantity changed
    "order_created",
    "order_fulfilled",
    "listing_status",  # a listing changed state (buyable, suppressed, unpublished)
    "inventory_receipt",
    "other",
]

AdjustmentReason = Literal[
    "sale", "return", "receipt", "manual", "promotion", "clearance", "correction", "sync", "other"
]


class LocationQuantity(Model):
    """Stock at one location (a Shopify location, a Magento MSI source, an ERP location)."""

    location_id: str
    name: str
    kind: Literal["location", "msi_source", "warehouse", "dropship"] = "location"
    available: int
    on_hand: int | None = None
    committed: int | None = None


class InventoryAdjustment(Model):
    """A quantity change recorded by the storefront (its inventory history)."""

    at: datetime
    before: int
    after: int
    reason: AdjustmentReason
    location_id: str | None = None
    actor: str | None = None
    note: str | None = None

    @property
    def delta(self) -> int:
        return self.after - self.before


class WebhookSubscription(Model):
    """A webhook a system sends to another (the storefront's order webhook to the connector)."""

    topic: str  # the vendor's own topic name, e.g. "orders/fulfilled"
    kind: EventKind
    address: str


class ChangeEvent(Model):
    """A credential rotation, key refresh, app upgrade or configuration change."""

    at: datetime
    system: str
    kind: Literal[
        "credential_rotation", "key_refresh", "app_upgrade", "config_change", "password_reset"
    ]
    description: str
    actor: str | None = None


# --- Layer 1: storefront ---------------------------------------------------------------------


class StorefrontSnapshot(Snapshot):
    sku: str
    title: str | None = None
    status: Literal["active", "draft", "archived"] = "active"
    available: int
    on_hand: int | None = None
    committed: int | None = None
    locations: list[LocationQuantity] = []
    inventory_policy: Literal["deny", "continue"] = "deny"
    tracked: bool = True
    out_of_stock_since: datetime | None = None
    out_of_stock_since_field: str | None = None  # which vendor field the time came from
    last_inventory_sync_at: datetime | None = None
    sync_interval_minutes: int | None = None
    holds: list[str] = []  # bulk-edit hold, inventory freeze, staging mode
    adjustments: list[InventoryAdjustment] = []
    webhooks: list[WebhookSubscription] = []

    @property
    def selling(self) -> bool:
        """Can a shopper buy it right now? (An untracked item always sells: no stock to run out.)"""
        return self.status == "active" and (
            not self.tracked or self.available > 0 or self.inventory_policy == "continue"
        )

    @property
    def out_of_stock(self) -> bool:
        """At zero — only an item whose stock the storefront tracks can be."""
        return self.tracked and self.available <= 0


# --- Layer 2: marketplace --------------------------------------------------------------------


class ListingIssue(Model):
    code: str
    message: str
    severity: Literal["error", "warning", "info"] = "error"
    enforcement: str | None = None  # e.g. LISTING_SUPPRESSED, SEARCH_SUPPRESSED


class ListingStatusChange(Model):
    at: datetime
    status: str
    buyable: bool


class ChannelListing(Snapshot):
    channel: str  # "amazon", "walmart", "ebay", …
    sku: str
    # None: the channel shows no quantity for this listing (e.g. an FBA listing read without its
    # inventory summary): unknown, never zero.
    quantity: int | None = None
    buyable: bool
    status: str  # the channel's own word: BUYABLE, UNPUBLISHED, ON_HOLD, ACTIVE, …
    issues: list[ListingIssue] = []
    status_history: list[ListingStatusChange] = []
    last_inventory_feed_at: datetime | None = None
    # Who feeds the listing's quantity: "storefront" (the default), "erp" (the ERP through the
    # connector: its upstream is the erp_to_marketplace flow), or a third party such as
    # "repricer:RepricerExpress" / "channel_manager:ChannelAdvisor".
    feed_source: str = "storefront"
    buffer: int = 0  # the channel suppresses at quantity <= buffer
    # "marketplace": the marketplace's own warehouse fulfils it (Amazon FBA, Walmart WFS), so
    # its quantity comes from there, not from anyone's feed.
    fulfilled_by: Literal["seller", "marketplace"] = "seller"

    @property
    def out_of_stock(self) -> bool:
        """Not buyable, or a known quantity at zero (an unknown quantity is not zero)."""
        return not self.buyable or (self.quantity is not None and self.quantity <= 0)


# --- Layer 3: middleware ---------------------------------------------------------------------

Hop = Literal[
    "storefront_to_erp",
    "erp_to_storefront",
    "storefront_to_marketplace",
    "erp_to_marketplace",
    "wms_to_erp",
]


class Flow(Model):
    """A connector flow: what it carries, how it is triggered, whether it runs."""

    id: str
    name: str
    hop: Hop
    channel: str | None = None  # for hops to a marketplace
    carries: list[EventKind] = ["inventory_update"]
    status: Literal["active", "suspended", "disabled", "error"] = "active"
    status_reason: str | None = None
    status_since: datetime | None = None
    trigger: Literal["event", "poll", "batch"] = "event"
    interval_minutes: int | None = None
    listens_for: list[EventKind] = ["inventory_update"]
    listens_for_raw: list[str] = []  # the vendor's own topic names
    target_endpoint: str | None = None
    last_run_at: datetime | None = None


class MiddlewareLogEntry(Model):
    at: datetime
    flow_id: str
    sku: str
    stage: Literal["received", "delivered", "error", "filtered", "dropped", "rate_limited"]
    message: str = ""
    status_code: int | None = None
    quantity: int | None = None
    # The record's id or trace key (Celigo ``traceKey``): pairs a receipt, an error and a later
    # delivery of the same record, and two postings of one event.
    source_id: str | None = None
    error_code: str | None = None  # the vendor's own code, e.g. "INSUFFICIENT_PERMISSION"
    # Who refused, for an error: "destination" (the target system answered with a refusal,
    # e.g. the ERP's 403) or "connector" (the connector's own mapping, lookup or transform).
    error_source: Literal["destination", "connector"] | None = None
    job_id: str | None = None  # the connector run the entry belongs to
    job_records: int | None = None  # records that run processed ("1 of 500 failed": 500)
    job_failed: int | None = None  # records that run failed ("1 of 500 failed": 1)


class SkuMapping(Model):
    storefront_sku: str
    erp_item: str | None
    status: Literal["active", "disabled", "overridden", "missing"] = "active"
    note: str | None = None


class LocationMapping(Model):
    """One row of a connector's location (or MSI source) map."""

    storefront_location_id: str
    erp_location_id: str
    kind: Literal["location", "msi_source"] = "location"


class MiddlewareSnapshot(Snapshot):
    vendor: str
    flows: list[Flow]
    log: list[MiddlewareLogEntry] = []
    log_window_start: datetime | None = None  # the log was searched from here to read_at
    sku_mapping: SkuMapping | None = None
    location_mappings: list[LocationMapping] = []
    changes: list[ChangeEvent] = []
    # What the connector read could not show, each line starting with its topic: "log" (step
    # errors or execution-log rows not read), "changes" (audit), "mappings" (SKU / location
    # maps), "flow_status" (latest run, connections), "log_window" (why the log starts at
    # log_window_start: retention, older runs not read, runs whose rows are unknown).
    not_visible: list[str] = []


class FlowHealth(Snapshot):
    """One connector flow over a window (weekly connector health): its status now, and how its
    runs went since ``window_start``. Every flow of the account is reported; ``hop`` is None for
    a flow the config does not name (not an inventory flow)."""

    flow_id: str
    name: str
    hop: Hop | None = None
    channel: str | None = None
    status: Literal["active", "suspended", "disabled", "error"] = "active"
    status_reason: str | None = None
    status_since: datetime | None = None
    trigger: Literal["event", "poll", "batch"] = "event"
    interval_minutes: int | None = None
    last_run_at: datetime | None = None
    window_start: datetime
    runs: int = 0
    failed_runs: int = 0
    records_ok: int = 0
    records_failed: int = 0
    records_ignored: int = 0  # filtered or skipped on purpose: not errors
    open_errors: int = 0
    complete: bool = True  # False: more runs than were read; the counts are a lower bound

    @property
    def error_rate(self) -> float | None:
        """Failed records over records processed (ignored ones aside); None when none ran."""
        processed = self.records_ok + self.records_failed
        return self.records_failed / processed if processed else None


# --- Layer 4: ERP ----------------------------------------------------------------------------


class ErpItem(Model):
    item_id: str
    sku: str
    name: str
    item_type: Literal["inventory", "non_inventory", "service", "kit", "other"] = "inventory"
    item_type_raw: str | None = None
    do_not_stock: bool = False
    available_to_fulfil: bool = True


class InventoryTransaction(Model):
    at: datetime
    kind: Literal["sale", "receipt", "adjustment", "transfer", "return", "fulfilment"]
    quantity: int  # signed: negative takes stock out
    location_id: str | None = None
    source_id: str | None = None  # the upstream event or document it came from
    origin: str | None = None  # "web", "wholesale", "pos", "integration", "3pl"
    status: Literal["posted", "pending_approval", "rejected"] = "posted"
    memo: str | None = None


class ErpListener(Model):
    """An ERP-side listener (script deployment, webhook subscription) for inventory events."""

    id: str
    name: str
    listens_for: EventKind = "inventory_update"
    active: bool
    endpoint: str | None = None


class TriggerRule(Model):
    """A rule that fires an inventory transaction only when the change is large enough."""

    id: str
    name: str
    min_delta: int
    active: bool = True


class WebhookLogEntry(Model):
    """An inbound call the ERP recorded (or refused)."""

    at: datetime
    sku: str | None
    status_code: int
    message: str = ""
    source_id: str | None = None


class OutboundEvent(Model):
    at: datetime
    kind: EventKind
    sku: str
    target: str | None = None


class IntegrationUser(Model):
    name: str
    role: str
    can_write_inventory: bool
    auth_errors: list[str] = []
    last_auth_error_at: datetime | None = None


class ErpSnapshot(Snapshot):
    vendor: str
    item: ErpItem
    # None: the ERP keeps no stock figure for the item (non-inventory, service, kit): unknown,
    # never zero.
    available: int | None = None
    locations: list[LocationQuantity] = []
    transactions: list[InventoryTransaction] = []
    last_inventory_update_at: datetime | None = None
    listeners: list[ErpListener] = []
    trigger_rules: list[TriggerRule] = []
    webhook_log: list[WebhookLogEntry] = []
    outbound_events: list[OutboundEvent] = []
    integration_user: IntegrationUser | None = None
    not_visible: list[str] = []  # facts this ERP's API cannot show, with where to look instead


# --- optional: WMS ---------------------------------------------------------------------------


class WmsEvent(Model):
    at: datetime
    kind: Literal["pick", "receipt", "adjustment", "return"]
    quantity: int


class WmsSnapshot(Snapshot):
    vendor: str
    on_hand: int
    events: list[WmsEvent] = []
    batch_interval_minutes: int | None = None
    last_batch_at: datetime | None = None


# --- monitoring: full-catalog scans ----------------------------------------------------------

QuantityKind = Literal["available", "on_hand"]


class CatalogStock(Snapshot):
    """One SKU's stock from a full-catalog scan (daily drift): the figure a system shows for it,
    which figure that is (``measure``), summed over the locations the scan asked for.

    ``locations`` is the per-location breakdown when the source read one (None when it summed on
    the vendor's side); ``record`` is the vendor's own id for the row (variant, item).
    ``tracked``, ``inventory_policy`` and ``status`` are the storefront's selling state where
    the source knows it: an untracked variant's quantity is no stock signal at all.
    """

    sku: str
    quantity: int
    measure: QuantityKind
    locations: list[LocationQuantity] | None = None
    record: str | None = None
    tracked: bool = True
    inventory_policy: Literal["deny", "continue"] | None = None
    status: Literal["active", "draft", "archived"] | None = None


class SellThrough(Snapshot):
    """One SKU's stock and sales over a trailing window (low-stock monitoring): ``available``
    now and ``sold``, the units sold over the last ``days`` days (gross: returns are not
    subtracted, they do not slow the rate at which stock leaves)."""

    sku: str
    available: int
    sold: int
    days: float

    @property
    def daily(self) -> float:
        """Average units sold per day over the window."""
        return self.sold / self.days if self.days > 0 else 0.0
