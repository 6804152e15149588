"""``oos discover``: read what a stack config needs from the live systems and print it as TOML.

The input is a partial config: each system's ``vendor``, the ``credentials`` variable names (or
the vendor's defaults), ``base_url`` if any, and the few options needed to reach it at all
(Shopify ``shop``, NetSuite ``account_id``, Amazon ``region``/``seller_id``, Celigo ``region``).
Everything else is read, read-only, through each vendor's adapter:

    shopify   locations, the webhook subscriptions visible to the app, the granted scopes
    amazon    the seller's marketplaces (getMarketplaceParticipations)
    celigo    integrations, flows (schedule or trigger, source → target, a guessed hop and what
              it carries) and connections
    netsuite  locations and RESTlet / user-event script deployments with their status

and printed as a complete config with a comment per entry; guesses say so. What the partial
config already states wins over what is discovered. A system that cannot be read keeps its
entry as given, with the reason in a comment, and the command exits 1.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.config import ConfigError, env_var_names
from bot.toml_out import key, table, value
from tools.erp.netsuite_discovery import NetSuiteAccount, discover_netsuite
from tools.errors import AdapterError
from tools.marketplace.amazon_discovery import Marketplace, discover_amazon
from tools.middleware.celigo_discovery import CeligoAccount, CeligoFlow, discover_celigo
from tools.registry import LAYERS
from tools.retry import RetryPolicy
from tools.storefront.shopify_discovery import ShopifyShop, discover_shopify
from tools.vendors import SPECS

SYSTEM_TABLES = ("storefront", "marketplaces", "middleware", "erp")
# What each vendor's adapter must be given before it can read anything at all.
_PLACEHOLDERS: dict[str, dict[str, Any]] = {
    "celigo": {"flows": {}},
    "amazon": {"seller_id": "unknown", "marketplace_id": "unknown"},
}
_REQUIRED: dict[str, tuple[str, ...]] = {"shopify": ("shop",), "netsuite": ("account_id",)}
# The Shopify access scopes oos-triage's reads need (docs/vendors/shopify.md).
SHOPIFY_SCOPES = ("read_products", "read_inventory", "read_locations")


@dataclass(frozen=True)
class PartialSystem:
    key: str  # storefront, marketplace:<channel>, middleware, erp
    layer: str
    vendor: str
    base_url: str | None
    credentials: dict[str, str]  # role → variable name, the vendor's defaults filled in
    options: dict[str, Any]
    channel: str | None = None

    def missing_variables(self, environ: Mapping[str, str]) -> list[str]:
        return [name for name in self.credentials.values() if not environ.get(name)]


@dataclass(frozen=True)
class PartialConfig:
    path: Path
    data: dict[str, Any]
    systems: list[PartialSystem]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _system(path: Path, where: str, layer: str, entry: Any, key_: str) -> PartialSystem:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    vendor = entry.get("vendor")
    known = sorted(v for v in LAYERS[layer] if v in SPECS)
    if vendor not in known:
        raise ConfigError(
            f"{path}: {where}.vendor: {vendor!r} is not a {layer} vendor (known: {', '.join(known)})"
        )
    spec = SPECS[vendor]
    credentials = entry.get("credentials", {})
    options = entry.get("options", {})
    if not isinstance(credentials, dict) or not isinstance(options, dict):
        raise ConfigError(f"{path}: {where}.credentials and .options must be tables")
    try:
        named = env_var_names(credentials, example="SHOPIFY_TOKEN")
    except ValueError as exc:
        raise ConfigError(f"{path}: {where}.{exc}") from None
    unknown = sorted(set(named) - set(spec.credentials))
    if unknown:
        roles = ", ".join(spec.credentials)
        raise ConfigError(f"{path}: {where}.credentials.{unknown[0]}: not a role ({roles})")
    for name in _REQUIRED.get(vendor, ()):
        if not options.get(name):
            raise ConfigError(f"{path}: {where}.options.{name} is needed to reach {vendor} at all")
    base_url = entry.get("base_url")
    return PartialSystem(
        key=key_,
        layer=layer,
        vendor=vendor,
        base_url=base_url if isinstance(base_url, str) else None,
        credentials={**spec.credentials, **named},
        options=dict(options),
        channel=entry.get("channel") if layer == "marketplace" else None,
    )


def load_partial(path: Path) -> PartialConfig:
    """The systems a partial config names; ``ConfigError`` (one line) when one cannot be used."""
    return partial_config(path, read_toml(path))


def partial_config(path: Path, data: dict[str, Any]) -> PartialConfig:
    """``data`` (a parsed partial config, read from ``path``) as its systems."""
    systems: list[PartialSystem] = []
    for name in ("storefront", "middleware", "erp"):
        if name in data:
            systems.append(_system(path, name, name, data[name], name))
    markets = data.get("marketplaces", [])
    if not isinstance(markets, list):
        raise ConfigError(f"{path}: marketplaces must be an array of tables ([[marketplaces]])")
    for n, entry in enumerate(markets):
        channel = entry.get("channel") if isinstance(entry, dict) else None
        channel = channel or (entry.get("vendor") if isinstance(entry, dict) else None) or "?"
        where = f"marketplaces[{n}]"
        systems.append(_system(path, where, "marketplace", entry, f"marketplace:{channel}"))
    if not systems:
        raise ConfigError(
            f"{path}: names no system; give at least one of [storefront], [[marketplaces]], "
            "[middleware], [erp] with its vendor (`oos init` writes a starting point)"
        )
    order = {"storefront": 0, "marketplace": 1, "middleware": 2, "erp": 3}
    return PartialConfig(path, data, sorted(systems, key=lambda s: order[s.layer]))


# --- reading ---------------------------------------------------------------------------------

Found = ShopifyShop | list[Marketplace] | CeligoAccount | NetSuiteAccount


@dataclass
class Discovered:
    system: PartialSystem
    found: Found | None = None
    error: str | None = None


_READERS: dict[str, Any] = {
    "shopify": discover_shopify,
    "amazon": discover_amazon,
    "celigo": discover_celigo,
    "netsuite": discover_netsuite,
}


def build_adapter(
    system: PartialSystem,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> Any:
    """The vendor's adapter from what the partial config says (placeholders where the adapter
    wants an option that discovery itself finds)."""
    options = {**_PLACEHOLDERS.get(system.vendor, {}), **system.options}
    if system.layer == "marketplace":
        options.setdefault("channel", system.channel or system.vendor)
    try:
        return LAYERS[system.layer][system.vendor](
            base_url=system.base_url,
            credentials=system.credentials,
            options=options,
            transport=transport,
            retry=retry,
        )
    except ValueError as exc:
        raise ConfigError(f"{system.key} ({system.vendor}): {exc}") from None


async def discover(
    partial: PartialConfig,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
) -> list[Discovered]:
    """Each system of ``partial`` read at once; a system that fails carries its reason."""
    transports = transports or {}

    async def one(system: PartialSystem) -> Discovered:
        adapter = build_adapter(system, transports.get(system.key), retry)
        try:
            return Discovered(system, found=await _READERS[system.vendor](adapter))
        except AdapterError as exc:
            return Discovered(system, error=exc.describe())
        finally:
            await adapter.aclose()

    return list(await asyncio.gather(*(one(s) for s in partial.systems)))


# --- printing --------------------------------------------------------------------------------


@dataclass
class _Out:
    lines: list[str] = field(default_factory=list)

    def comment(self, text: str = "") -> None:
        self.lines.append(f"# {text}".rstrip())

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)


def _head(out: _Out, header: str, system: PartialSystem, channel: str | None = None) -> None:
    out.add(header, f"vendor = {value(system.vendor)}")
    if channel is not None:
        out.add(f"channel = {value(channel)}")
    if system.base_url:
        out.add(f"base_url = {value(system.base_url)}")
    out.add(f"credentials = {value(system.credentials)}")


def _shopify(out: _Out, system: PartialSystem, shop: ShopifyShop) -> None:
    _head(out, "[storefront]", system)
    out.add(f"options = {value(system.options)}")
    out.comment(f"Locations ({len(shop.locations)}): id · name · state")
    for loc in shop.locations:
        state = ["active" if loc.is_active else "inactive"]
        if loc.fulfills_online_orders:
            state.append("fulfils online orders")
        if loc.is_fulfillment_service:
            state.append("a fulfillment service (dropship / 3PL)")
        out.comment(f"  {loc.id} · {loc.name} · {', '.join(state)}")
    seen = f"({len(shop.webhooks)}):" if shop.webhooks else "none."
    out.comment(
        "Webhook subscriptions this app can see; a connector's own (Celigo's Shopify app) are "
        f"not visible to it: {seen}"
    )
    for hook in shop.webhooks:
        out.comment(f"  {hook.topic} → {hook.address}")
    missing = [s for s in SHOPIFY_SCOPES if s not in shop.scopes]
    granted = ", ".join(sorted(shop.scopes)) or "none"
    out.comment(f"Access scopes granted: {granted}")
    if missing:
        out.comment(
            f"MISSING scopes oos-triage reads with: {', '.join(missing)} (docs/vendors/shopify.md)"
        )


def _amazon(out: _Out, system: PartialSystem, markets: list[Marketplace]) -> None:
    _head(out, "[[marketplaces]]", system, channel=system.channel or system.vendor)
    options = dict(system.options)
    selling = [m for m in markets if m.participating]
    out.comment("Marketplaces of this seller: id · name · domain · participation")
    for m in markets:
        state = "participating" if m.participating else "not participating"
        if m.suspended_listings:
            state += ", has suspended listings"
        out.comment(f"  {m.id} · {m.name} · {m.domain} · {state}")
    if not options.get("marketplace_id") and selling:
        options["marketplace_id"] = selling[0].id
        more = (
            " (one entry per marketplace: copy this table for the others)"
            if len(selling) > 1
            else ""
        )
        out.comment(f"marketplace_id: the first marketplace the seller sells in{more}")
    if not options.get("seller_id"):
        options["seller_id"] = "FILL-IN-MERCHANT-TOKEN"
        out.comment(
            "seller_id: no SP-API answer carries it; Seller Central → Settings → Account Info → "
            "Merchant Token"
        )
    out.add(f"options = {value(options)}")


def _flow_line(flow: CeligoFlow) -> str:
    if flow.trigger == "event":
        when = "event (a listener)"
    else:
        every = f"every {flow.interval_minutes} min" if flow.interval_minutes else "schedule"
        when = f"{flow.trigger}, {every}" + (f" ({flow.schedule})" if flow.schedule else "")
    source = flow.source.system if flow.source else "?"
    target = flow.target.system if flow.target else "?"
    carries = ", ".join(flow.carries) or "nothing recognisable"
    state = "DISABLED · " if flow.disabled else ""
    where = f" · integration {flow.integration}" if flow.integration else ""
    return (
        f"{flow.id} · {flow.name!r}{where} · {state}{when} · {source} → {target} · moves: {carries}"
    )


def _celigo(out: _Out, system: PartialSystem, account: CeligoAccount) -> None:
    _head(out, "[middleware]", system)
    configured: dict[str, Any] = dict(system.options.get("flows") or {})
    names = ", ".join(f"{i} ({n})" for i, n in account.integrations.items()) or "none"
    body = _Out()
    body.comment(f"Integrations: {names}")
    body.comment(
        "Flows that move inventory: the hop is a guess from the connections' applications and "
        "what it carries a guess from the names; confirm each (Celigo records neither)."
    )
    others: list[CeligoFlow] = []
    tables = 0
    for flow in account.flows:
        header = f"middleware.options.flows.{key(flow.id)}"
        if flow.id in configured:
            body.comment(_flow_line(flow) + " · as your config says")
            body.add(*table(header, configured.pop(flow.id)))
            tables += 1
        elif not flow.moves_inventory:
            others.append(flow)
        elif flow.hop is None:
            body.comment(_flow_line(flow))
            body.comment("the hop could not be guessed (unknown applications): uncomment, set it")
            lines = table(header, {"hop": "FILL-IN", "carries": list(flow.carries)})
            body.add(*(f"# {line}" for line in lines))
        else:
            body.comment(_flow_line(flow))
            mapping: dict[str, Any] = {"hop": flow.hop}
            if flow.channel:
                mapping["channel"] = flow.channel
            mapping["carries"] = list(flow.carries)
            body.add(*table(header, mapping))
            tables += 1
    for flow_id, mapping in configured.items():
        body.comment(f"{flow_id}: in your config but not in the account (deleted?)")
        body.add(*table(f"middleware.options.flows.{key(flow_id)}", mapping))
        tables += 1
    options = {k: v for k, v in system.options.items() if k != "flows"}
    if not tables:
        options["flows"] = {}  # none found: the config still needs the key
    out.add("", *table("middleware.options", options), *body.lines)
    if others:
        out.comment("Other flows (not inventory by their names; add one above if it moves stock):")
        for flow in others:
            out.comment(f"  {_flow_line(flow)}")
    out.comment("Connections: id · name · application · state")
    for c in account.connections:
        out.comment(f"  {c.id} · {c.name} · {c.system} · {'OFFLINE' if c.offline else 'online'}")


def _netsuite(out: _Out, system: PartialSystem, account: NetSuiteAccount) -> None:
    _head(out, "[erp]", system)
    options = dict(system.options)
    out.comment(
        "Script deployments (RESTlets and user-event scripts): deployment · title · type · script · status"
    )
    for d in account.deployments:
        runs = (
            "runs"
            if d.runs
            else "does NOT run (TESTING: the owner only)"
            if d.deployed
            else "not deployed"
        )
        out.comment(
            f"  {d.deployment} · {d.title} · {d.script_type} · {d.script} · {d.status}, {runs}"
        )
    if "listener_scripts" not in options:
        guessed = {
            d.script: "inventory_update" for d in account.deployments if d.looks_like_inventory
        }
        if guessed:
            options["listener_scripts"] = guessed
            out.comment("listener_scripts: a guess from the scripts' ids and titles; confirm")
        else:
            out.comment("listener_scripts: none of the scripts names inventory; name yours")
    out.add("", *table("erp.options", options))
    out.comment("Locations: internal id · name (for [drift] erp_locations)")
    for loc in account.locations:
        out.comment(f"  {loc.id} · {loc.name}{' · inactive' if loc.inactive else ''}")


def _as_given(out: _Out, system: PartialSystem, error: str) -> None:
    header = "[[marketplaces]]" if system.layer == "marketplace" else f"[{system.layer}]"
    out.comment(f"{system.key}: could not be read, kept as given: {error}")
    _head(out, header, system, channel=system.channel if system.layer == "marketplace" else None)
    out.add(f"options = {value(system.options)}")


def render(partial: PartialConfig, found: list[Discovered]) -> str:
    """The config to paste: the discovered systems, then the partial's other tables as given."""
    out = _Out()
    out.comment(f"Written by `oos discover --config {partial.path}`: every system read, read-only.")
    out.comment("Lines that say 'guess' are guesses; run `oos check-config` on this file after.")
    name = partial.data.get("name")
    if isinstance(name, str):
        out.add(f"name = {value(name)}")
    erp_locations: list[str] = []
    for item in found:
        out.add("")
        if item.found is None:
            _as_given(out, item.system, item.error or "unknown error")
        elif isinstance(item.found, ShopifyShop):
            _shopify(out, item.system, item.found)
        elif isinstance(item.found, CeligoAccount):
            _celigo(out, item.system, item.found)
        elif isinstance(item.found, NetSuiteAccount):
            _netsuite(out, item.system, item.found)
            erp_locations = [loc.id for loc in item.found.locations if not loc.inactive]
        else:
            _amazon(out, item.system, item.found)
    for name_, body in partial.data.items():
        if name_ in (*SYSTEM_TABLES, "name"):
            continue
        out.add("")
        if isinstance(body, dict):
            out.add(*table(name_, body))
        else:
            out.add(f"{key(name_)} = {value(body)}")
    if "drift" not in partial.data and erp_locations:
        out.add("")
        out.comment(
            "[drift] which ERP locations sum to the storefront's figure (leave out returns/damaged):"
        )
        out.comment("[drift]")
        out.comment(f"erp_locations = {value(erp_locations)}")
    return "\n".join(out.lines) + "\n"
