"""What ``oos discover`` reads from a Celigo account: integrations, flows and connections.

Read-only, through the adapter's own client (token, pacing, paging, retries):

    GET /integrations      ``_id``, ``name`` (integration.md in ``celigo/integrator-api-docs``)
    GET /flows             ``_id``, ``name``, ``_integrationId``, ``disabled``, ``schedule`` (or
                           the first page generator's), ``pageGenerators`` / ``pageProcessors``
    GET /exports           the first page generator's export: ``type`` → trigger (as the adapter
                           reads it: webhook/distributed → event, delta/once → poll, else batch),
                           ``_connectionId`` → the source system
    GET /imports           the first import's ``_connectionId`` → the target system
    GET /connections       ``_id``, ``name``, ``type``, ``assistant``, ``offline``

What each flow moves and which hop it serves are guesses, said as such: the systems come from
the connections' ``assistant`` (else ``type``), the hop from their layers (Shopify storefront →
NetSuite ERP is ``storefront_to_erp``), what it carries from words in the flow's and its steps'
names and HTTP paths ("inventory", "stock", "quantity" → inventory_update; "order", "fulfil",
"listing").
Celigo records neither; the operator confirms them in the config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from tools.middleware.celigo import CeligoMiddleware
from tools.middleware.celigo_facts import connection_system, flow_schedule, trigger_of
from tools.middleware.celigo_wire import flow_steps, interval_from_cron
from tools.models import EventKind, Hop

# Celigo connection ``assistant`` / ``type`` values → the layer that system plays.
_LAYERS: dict[str, str] = {
    "shopify": "storefront",
    "bigcommerce": "storefront",
    "magento": "storefront",
    "woocommerce": "storefront",
    "amazonsellercentral": "marketplace",
    "amazonmws": "marketplace",
    "amazon": "marketplace",
    "walmart": "marketplace",
    "ebay": "marketplace",
    "netsuite": "erp",
    "businesscentral": "erp",
    "microsoftbusinesscentral": "erp",
    "sapbusinessone": "erp",
    "acumatica": "erp",
    "shipbob": "wms",
    "shiphero": "wms",
    "3plcentral": "wms",
}
_HOPS: frozenset[str] = frozenset(get_args(Hop))
_CARRIES: tuple[tuple[str, EventKind], ...] = (
    (r"inventor|stock|quantit|qty", "inventory_update"),
    (r"fulfil", "order_fulfilled"),
    (r"order", "order_created"),
    (r"listing|publish", "listing_status"),
    (r"receipt|receiv", "inventory_receipt"),
)


@dataclass(frozen=True)
class CeligoConnection:
    id: str
    name: str
    system: str  # the connection's assistant, else its type
    offline: bool


@dataclass(frozen=True)
class CeligoFlow:
    id: str
    name: str
    integration: str | None  # the integration's name (else its id)
    disabled: bool
    trigger: str  # event / poll / batch
    schedule: str | None  # Celigo's 6-field cron
    interval_minutes: int | None
    source: CeligoConnection | None
    target: CeligoConnection | None
    hop: Hop | None  # a guess from the connections' systems
    channel: str | None  # for a marketplace hop: the marketplace system
    carries: tuple[EventKind, ...]  # a guess from the names

    @property
    def moves_inventory(self) -> bool:
        return "inventory_update" in self.carries


@dataclass(frozen=True)
class CeligoAccount:
    integrations: dict[str, str]  # id → name
    flows: list[CeligoFlow]
    connections: list[CeligoConnection]


def layer_of(system: str | None) -> str | None:
    return _LAYERS.get((system or "").lower().replace("-", "").replace("_", ""))


def guess_hop(source: str | None, target: str | None) -> Hop | None:
    """The hop a flow from ``source`` to ``target`` (systems) serves, when both layers are
    known and the pair is a hop the checklist walks."""
    hop = f"{layer_of(source)}_to_{layer_of(target)}"
    return hop if hop in _HOPS else None  # type: ignore[return-value]


def guess_carries(*names: str) -> tuple[EventKind, ...]:
    text = " ".join(names).lower()
    found: list[EventKind] = []
    for pattern, kind in _CARRIES:
        if re.search(pattern, text) and kind not in found:
            found.append(kind)
            if kind == "order_fulfilled":
                break  # "order fulfillment" is about fulfilment, not new orders
    return tuple(found)


def _connection(doc: Mapping[str, Any]) -> CeligoConnection:
    return CeligoConnection(
        id=str(doc.get("_id", "")),
        name=str(doc.get("name", "")),
        system=connection_system(doc),
        offline=doc.get("offline") is True,
    )


def _relative_uri(step: Mapping[str, Any]) -> str:
    """An HTTP step's path (``/admin/api/…/inventory_levels/set.json``): what it moves, often."""
    http = step.get("http")
    uri = http.get("relativeURI") if isinstance(http, Mapping) else None
    if isinstance(uri, list):
        uri = " ".join(u for u in uri if isinstance(u, str))
    return uri if isinstance(uri, str) else ""


def parse_flow(
    doc: Mapping[str, Any],
    integrations: Mapping[str, str],
    exports: Mapping[str, Mapping[str, Any]],
    imports: Mapping[str, Mapping[str, Any]],
    connections: Mapping[str, CeligoConnection],
) -> CeligoFlow:
    steps = flow_steps(doc)
    export = exports.get(steps.exports[0]) if steps.exports else None
    import_doc = imports.get(steps.imports[0]) if steps.imports else None
    source = connections.get(str(export.get("_connectionId"))) if export else None
    target = connections.get(str(import_doc.get("_connectionId"))) if import_doc else None
    hop = guess_hop(source.system if source else None, target.system if target else None)
    channel = None
    if hop is not None and hop.endswith("_marketplace") and target is not None:
        channel = "amazon" if target.system.lower().startswith("amazon") else target.system
    names = [str(doc.get("name", ""))]
    names += [str(d.get("name", "")) for d in (export, import_doc) if d]
    names += [_relative_uri(d) for d in (export, import_doc) if d]
    integration_id = doc.get("_integrationId")
    schedule = flow_schedule(doc)
    return CeligoFlow(
        id=str(doc.get("_id", "")),
        name=str(doc.get("name", "")),
        integration=integrations.get(str(integration_id), integration_id)
        if isinstance(integration_id, str)
        else None,
        disabled=doc.get("disabled") is True,
        trigger=trigger_of(export),
        schedule=schedule,
        interval_minutes=interval_from_cron(schedule),
        source=source,
        target=target,
        hop=hop,
        channel=channel,
        carries=guess_carries(*names),
    )


async def discover_celigo(adapter: CeligoMiddleware) -> CeligoAccount:
    """The account's integrations, flows (with their guesses) and connections."""
    integrations = {
        str(d.get("_id")): str(d.get("name", d.get("_id")))
        for d in await adapter._list("integrations")
    }
    flows = await adapter._list("flows")
    exports = {str(d.get("_id")): d for d in await adapter._list("exports")}
    imports = {str(d.get("_id")): d for d in await adapter._list("imports")}
    connections = {c.id: c for c in (_connection(d) for d in await adapter._list("connections"))}
    return CeligoAccount(
        integrations=integrations,
        flows=[parse_flow(d, integrations, exports, imports, connections) for d in flows],
        connections=list(connections.values()),
    )
