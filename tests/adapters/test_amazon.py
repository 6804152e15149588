"""Amazon SP-API adapter: contract tests against the official Swagger models, the scenario
library through the emulator, every fault kind, and credential canaries."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.engine import triage
from tests.fakes import FakeClock
from tools.errors import AdapterError
from tools.marketplace.amazon import (
    INCLUDED_DATA,
    TOKEN_MARGIN_SECONDS,
    AmazonSpApi,
)
from tools.models import ChannelListing, ListingStatusChange, Source
from tools.protocols import MarketplaceAdapter
from tools.retry import RetryPolicy, retry_after_spread
from tools.sandbox.emulators.amazon import AmazonEmulator, LwaCredentials, last_updated
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import Scenario, load_library

SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "amazon-sp-api"
LISTINGS_PATH = "/listings/2021-08-01/items/{sellerId}/{sku}"
CANARY = LwaCredentials(
    client_id="amzn1.application-oa2-client.CANARYid7f3a",
    client_secret="amzn1.oa2-cs.v1.CANARYsecret91bd",
    refresh_token="Atzr|CANARYrefresh52ce",
)
ENV = {
    "SP_API_CLIENT_ID": CANARY.client_id,
    "SP_API_CLIENT_SECRET": CANARY.client_secret,
    "SP_API_REFRESH_TOKEN": CANARY.refresh_token,
}
POLICY = RetryPolicy(max_attempts=3, total_seconds=60.0, base_delay=0.5, max_delay=4.0)
T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)

AMAZON_LISTINGS = [
    (scenario, listing)
    for scenario in load_library().values()
    for listing in scenario.marketplaces
    if isinstance(listing, ChannelListing) and listing.channel == "amazon"
]


def make(
    emulator: httpx.AsyncBaseTransport,
    time: FakeClock | None = None,
    listing: ChannelListing | None = None,
    **kwargs: Any,
) -> AmazonSpApi:
    time = time or FakeClock(now=1000.0)
    kwargs.setdefault("environ", ENV)
    kwargs.setdefault("retry", POLICY)
    if isinstance(emulator, AmazonEmulator):
        kwargs.setdefault("seller_id", emulator.seller_id)
        kwargs.setdefault("marketplace_id", emulator.marketplace_id)
    if listing is not None:
        kwargs.setdefault("feed_source", listing.feed_source)
        kwargs.setdefault("buffer", listing.buffer)
        kwargs.setdefault("now", lambda: listing.read_at)
    return AmazonSpApi(transport=emulator, sleep=time.sleep, clock=time, **kwargs)


def emulator(*listings: ChannelListing, **kwargs: Any) -> AmazonEmulator:
    kwargs.setdefault("credentials", CANARY)
    return AmazonEmulator(listings, **kwargs)


def listing(sku: str = "SKU-1", **fields: Any) -> ChannelListing:
    base: dict[str, Any] = {
        "source": Source(system="amazon-sp-api", endpoint="sandbox"),
        "read_at": T0,
        "channel": "amazon",
        "sku": sku,
        "quantity": 5,
        "buyable": True,
        "status": "BUYABLE+DISCOVERABLE",
        "last_inventory_feed_at": datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
    }
    return ChannelListing(**(base | fields))


def spec(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"the shared SP-API models are not beside the repo ({path})")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- a small Swagger 2.0 checker (requests against operations, payloads against definitions) ----


def operation_for(swagger: dict[str, Any], request: httpx.Request) -> tuple[str, dict[str, Any]]:
    raw_path = request.url.raw_path.split(b"?")[0].decode()
    for template, item in swagger["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, raw_path) and request.method.lower() in item:
            return template, item[request.method.lower()]
    raise AssertionError(f"{request.method} {raw_path} matches no path of the model")


def request_problems(swagger: dict[str, Any], request: httpx.Request) -> list[str]:
    template, op = operation_for(swagger, request)
    declared = {p["name"]: p for p in op.get("parameters", []) if "name" in p}
    problems = [
        f"path parameter {{{name}}} is not declared in: path"
        for name in re.findall(r"\{([^}]+)\}", template)
        if declared.get(name, {}).get("in") != "path"
    ]
    sent = request.url.params
    for name in sent:
        values = sent.get_list(name)
        param = declared.get(name)
        if param is None or param["in"] != "query":
            problems.append(f"{name} is not a query parameter of {op['operationId']}")
            continue
        if len(values) > 1:
            problems.append(f"{name} repeated; the model wants one csv value")
        value = values[0]
        if param["type"] == "array":
            items = value.split(",")
            enum = param.get("items", {}).get("enum")
            problems += [f"{name}={v} not in {enum}" for v in items if enum and v not in enum]
            if len(items) > param.get("maxItems", len(items)):
                problems.append(f"{name} has more than {param['maxItems']} values")
        elif param["type"] == "boolean" and value not in ("true", "false"):
            problems.append(f"{name}={value} is not a boolean")
        elif "enum" in param and value not in param["enum"]:
            problems.append(f"{name}={value} not in {param['enum']}")
    for name, param in declared.items():
        if param["in"] == "query" and param.get("required") and name not in sent:
            problems.append(f"required {name} missing")
    return problems


def conform(value: Any, schema: dict[str, Any], defs: dict[str, Any], at: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (types, required, enums, undeclared keys)."""
    if "$ref" in schema:
        return conform(value, defs[schema["$ref"].rsplit("/", 1)[-1]], defs, at)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in {schema['enum']}"]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{at}: expected an object"]
        props = schema.get("properties", {})
        problems = [f"{at}.{r}: required" for r in schema.get("required", []) if r not in value]
        for key, item in value.items():
            if key in props:
                problems += conform(item, props[key], defs, f"{at}.{key}")
            elif props and not schema.get("additionalProperties"):
                problems.append(f"{at}.{key}: not in the model")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{at}: expected an array"]
        return [
            p for i, v in enumerate(value) for p in conform(v, schema["items"], defs, f"{at}[{i}]")
        ]
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        return [f"{at}: expected {kind}, got {value!r}"]
    if schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return [f"{at}: {value!r} is not a date-time"]
    return []


def example_items(swagger: dict[str, Any]) -> list[dict[str, Any]]:
    """getListingsItem's own 200 examples: ``examples`` and ``x-amzn-api-sandbox`` responses."""
    ok = swagger["paths"][LISTINGS_PATH]["get"]["responses"]["200"]
    found = list(ok.get("examples", {}).values())
    found += [case["response"] for case in ok.get("x-amzn-api-sandbox", {}).get("static", [])]
    assert found, "the model carries no example response any more"
    return found


def serving(item: Any, status: int = 200) -> httpx.MockTransport:
    """LWA plus one fixed getListingsItem answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/o2/token":
            return httpx.Response(200, json={"access_token": "Atza|fixed", "expires_in": 3600})
        return httpx.Response(status, json=item, headers={"x-amzn-RateLimit-Limit": "5.0"})

    return httpx.MockTransport(handler)


# --- contract: requests ------------------------------------------------------------------------


@pytest.mark.parametrize("fba", [False, True], ids=["mfn", "fba"])
async def test_requests_conform_to_the_models(fba: bool) -> None:
    listings = spec("listingsItems_2021-08-01.json")
    inventory = spec("fbaInventory.json")
    item = listing(sku="SKU/with space&more")
    emu = emulator(item, fba_skus=[item.sku] if fba else [])
    async with make(emu) as adapter:
        await adapter.read_listing(item.sku)

    sp_api = [r for r in emu.requests if r.url.path != "/auth/o2/token"]
    assert [
        operation_for(listings if "listings" in r.url.path else inventory, r)[1]["operationId"]
        for r in sp_api
    ] == (["getListingsItem", "getInventorySummaries"] if fba else ["getListingsItem"])
    for request in sp_api:
        swagger = listings if "listings" in request.url.path else inventory
        assert request_problems(swagger, request) == []
        assert request.headers["x-amz-access-token"].startswith("Atza|")
        assert request.url.host == "sellingpartnerapi-na.amazon.com"
    first = sp_api[0]
    assert first.url.raw_path.split(b"?")[0] == (
        b"/listings/2021-08-01/items/A3EMULATORSELLER/SKU%2Fwith%20space%26more"
    )
    assert first.url.params["includedData"] == ",".join(INCLUDED_DATA)
    assert first.url.params["marketplaceIds"] == "ATVPDKIKX0DER"


async def test_lwa_exchange_is_a_refresh_token_grant() -> None:
    emu = emulator(listing())
    async with make(emu) as adapter:
        await adapter.read_listing("SKU-1")
    token = emu.requests[0]
    assert (token.method, token.url.host, token.url.path) == (
        "POST",
        "api.amazon.com",
        "/auth/o2/token",
    )
    assert json.loads(token.content) == {
        "grant_type": "refresh_token",
        "refresh_token": CANARY.refresh_token,
        "client_id": CANARY.client_id,
        "client_secret": CANARY.client_secret,
    }


# --- contract: the models' own example responses -------------------------------------------------


async def test_parses_the_models_example_listing_for_the_us_marketplace() -> None:
    for item in example_items(spec("listingsItems_2021-08-01.json")):
        async with make(
            serving(item), seller_id="A1SELLER", marketplace_id="ATVPDKIKX0DER"
        ) as adapter:
            got = await adapter.read_listing("GM-ZDPI-9B4E")

        assert (got.quantity, got.buyable, got.status) == (100, True, "BUYABLE")
        assert got.last_inventory_feed_at == datetime(2021, 3, 1, tzinfo=UTC)
        assert got.status_history == []
        assert got.raw == {"getListingsItem": item}
        assert got.source.endpoint == f"GET {LISTINGS_PATH}"
        assert [(i.code, i.severity, i.enforcement) for i in got.issues] == [
            ("90220", "error", None),
            ("18027", "error", None),  # EXEMPT_UNTIL_EXPIRY_DATE: not enforced yet
            ("99300", "error", None),  # EXEMPT: Amazon does not apply it
            ("18155", "error", "LISTING_SUPPRESSED"),
            ("18742", "error", "CATALOG_ITEM_REMOVED"),
        ]
        assert got.issues[1].message.endswith(
            "(exempt from SEARCH_SUPPRESSED until 2025-05-28 00:36 UTC)"
        )
        assert got.issues[2].message.endswith("(exempt from ATTRIBUTE_SUPPRESSED)")


async def test_parses_the_models_example_listing_for_the_canadian_marketplace() -> None:
    for item in example_items(spec("listingsItems_2021-08-01.json")):
        async with make(
            serving(item), seller_id="A1SELLER", marketplace_id="A2EUQ1WTGCTBG2"
        ) as adapter:
            got = await adapter.read_listing("GM-ZDPI-9B4E")

        # status [] and only exempted issues there: neither buyable nor visible, a listing state.
        assert (got.buyable, got.status) == (False, "INACTIVE")
        assert [i.code for i in got.issues] == ["18027", "99300"]
        updated = datetime(2021, 3, 5, tzinfo=UTC)
        assert got.status_history == [
            ListingStatusChange(at=updated, status="INACTIVE", buyable=False)
        ]


async def test_the_models_error_example_becomes_an_adapter_error() -> None:
    swagger = spec("listingsItems_2021-08-01.json")
    bad = swagger["paths"][LISTINGS_PATH]["get"]["responses"]["400"]["x-amzn-api-sandbox"]
    body = bad["static"][0]["response"]
    async with make(serving(body, 400), seller_id="A1", marketplace_id="ATVPDKIKX0DER") as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("BadSKU")
    assert (caught.value.kind, caught.value.status) == ("bad_payload", 400)
    assert "BAD_REQUEST: Invalid input" in caught.value.message


def test_the_schema_checker_accepts_the_models_examples_and_catches_a_wrong_one() -> None:
    swagger = spec("listingsItems_2021-08-01.json")
    defs = swagger["definitions"]
    for item in example_items(swagger):
        assert conform(item, {"$ref": "#/definitions/Item"}, defs) == []
    broken = {"sku": 1, "summaries": [{"status": ["GONE"]}]}
    assert len(conform(broken, {"$ref": "#/definitions/Item"}, defs)) >= 3


@pytest.mark.parametrize(
    ("scenario", "state"), AMAZON_LISTINGS, ids=[s.sku for s, _ in AMAZON_LISTINGS]
)
def test_emulator_payloads_conform_to_the_models(scenario: Scenario, state: ChannelListing) -> None:
    listings = spec("listingsItems_2021-08-01.json")
    inventory = spec("fbaInventory.json")
    emu = emulator(state, fba_skus=[state.sku])
    assert (
        conform(emu.render_item(state), {"$ref": "#/definitions/Item"}, listings["definitions"])
        == []
    )
    summary = emu.render_inventory(state)
    assert (
        conform(summary, {"$ref": "#/definitions/InventorySummary"}, inventory["definitions"]) == []
    )


# --- round trip: every library scenario through the emulator -----------------------------------


def amazon_view(state: ChannelListing) -> dict[str, Any]:
    """What SP-API can carry of a snapshot, on every field the engine reads.

    Two facts change shape on the way: Amazon keeps one ``lastUpdatedDate`` per listing, so a
    seller-fulfilled listing's feed time is the latest of the feed and its state changes; and it
    keeps no history of states, so ``status_history`` is the current state at that date, and only
    when a listing state (not stock) makes it unbuyable (see the adapter's docstring).
    """
    view: dict[str, Any] = {
        "channel": state.channel,
        "sku": state.sku,
        "quantity": None if state.quantity is None else max(state.quantity, 0),  # minimum 0
        "buyable": state.buyable,
        "issues": state.issues,
        "feed_source": state.feed_source,
        "buffer": state.buffer,
    }
    return view


@pytest.mark.parametrize("fba", [False, True], ids=["mfn", "fba"])
@pytest.mark.parametrize(
    ("scenario", "state"), AMAZON_LISTINGS, ids=[s.sku for s, _ in AMAZON_LISTINGS]
)
async def test_round_trip_matches_the_scenario(
    scenario: Scenario, state: ChannelListing, fba: bool
) -> None:
    emu = emulator(state, fba_skus=[state.sku] if fba else [])
    async with make(emu, listing=state) as adapter:
        got = await adapter.read_listing(state.sku)

    expected = amazon_view(state)
    assert {k: getattr(got, k) for k in expected} == expected
    fba = fba or state.fulfilled_by == "marketplace"  # such a listing renders as FBA either way
    assert got.fulfilled_by == ("marketplace" if fba else "seller")
    updated = last_updated(state)
    if fba:
        assert got.last_inventory_feed_at == state.last_inventory_feed_at
    elif updated is not None:
        assert got.last_inventory_feed_at == updated
    # else: the snapshot has no time at all, yet Amazon always shows a lastUpdatedDate.
    unbuyable = [c.at for c in state.status_history if not c.buyable]
    if not state.buyable and unbuyable and updated == max(unbuyable):
        # The engine reads the latest unbuyable change: it survives the trip.
        assert max(c.at for c in got.status_history if not c.buyable) == max(unbuyable)
    if state.buyable or (
        state.quantity is not None and state.quantity <= 0 and "DISCOVERABLE" in state.status
    ):
        assert got.status_history == []  # buyable, or merely out of stock: no listing state
    if state.status in ("BUYABLE", "DISCOVERABLE", "BUYABLE+DISCOVERABLE"):
        assert got.status == state.status
    else:  # a word SP-API has no status for: the adapter's own word
        assert got.status in {"SUPPRESSED", "REMOVED", "INACTIVE"}
    assert got.source.system == "amazon-sp-api"
    assert got.raw is not None and "getListingsItem" in got.raw
    assert ("getInventorySummaries" in got.raw) is fba


@pytest.mark.parametrize(
    ("scenario", "state"), AMAZON_LISTINGS, ids=[s.sku for s, _ in AMAZON_LISTINGS]
)
async def test_engine_reaches_the_same_verdict_over_the_emulator(
    scenario: Scenario, state: ChannelListing
) -> None:
    stack = memory_stack(scenario)
    emu = emulator(state)
    adapter = make(emu, listing=state)
    assert isinstance(adapter, MarketplaceAdapter)
    swapped = tuple(adapter if m.channel == "amazon" else m for m in stack.marketplaces)
    memory = await triage(scenario.sku, stack, now=scenario.clock)
    over_http = await triage(
        scenario.sku, dataclasses.replace(stack, marketplaces=swapped), now=scenario.clock
    )
    await adapter.aclose()

    def verdict(r: Any) -> tuple[Any, ...]:
        return (
            r.pattern,
            r.verdict.cause,
            r.verdict.confidence,
            sorted(s.cause for s in r.secondary),
        )

    assert verdict(over_http) == verdict(memory)


async def test_fba_quantity_is_the_fulfillable_quantity() -> None:
    state = listing(quantity=7, last_inventory_feed_at=datetime(2026, 11, 19, tzinfo=UTC))
    emu = emulator(state, fba_skus=["SKU-1"])
    async with make(emu) as adapter:
        got = await adapter.read_listing("SKU-1")
    assert emu.render_item(state)["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "AMAZON_NA"}
    ]
    assert (got.quantity, got.last_inventory_feed_at) == (7, datetime(2026, 11, 19, tzinfo=UTC))
    assert got.source.endpoint.endswith("+ GET /fba/inventory/v1/summaries")


async def test_fba_inventory_follows_next_token() -> None:
    item = {
        "sku": "S",
        "summaries": [
            {"marketplaceId": "M", "status": ["BUYABLE"], "lastUpdatedDate": "2026-01-01T00:00:00Z"}
        ],
        "fulfillmentAvailability": [{"fulfillmentChannelCode": "AMAZON_EU"}],
    }
    pages = [
        {
            "payload": {"granularity": {}, "inventorySummaries": []},
            "pagination": {"nextToken": "p2"},
        },
        {
            "payload": {
                "inventorySummaries": [
                    {
                        "sellerSku": "S",
                        "inventoryDetails": {"fulfillableQuantity": 3},
                        "lastUpdatedTime": "2026-01-02T00:00:00Z",
                    }
                ]
            }
        },
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/auth/o2/token":
            return httpx.Response(200, json={"access_token": "Atza|x", "expires_in": 3600})
        if request.url.path.startswith("/listings"):
            return httpx.Response(200, json=item)
        return httpx.Response(200, json=pages.pop(0))

    async with make(
        httpx.MockTransport(handler), seller_id="A", marketplace_id="M", region="eu"
    ) as adapter:
        got = await adapter.read_listing("S")
    assert got.quantity == 3
    assert [r.url.params.get("nextToken") for r in seen[2:]] == [None, "p2"]
    assert {r.url.host for r in seen[1:]} == {"sellingpartnerapi-eu.amazon.com"}


async def test_emulator_pages_inventory_summaries() -> None:
    states = [listing(sku=f"F-{i}") for i in range(5)]
    emu = emulator(
        *states,
        fba_skus=[s.sku for s in states],
        page_size=2,
        rates={"getInventorySummaries": (100.0, 100.0)},
    )
    access = emu.issue_token()
    base = {
        "granularityType": "Marketplace",
        "granularityId": "ATVPDKIKX0DER",
        "marketplaceIds": "ATVPDKIKX0DER",
    }
    skus: list[str] = []
    next_token: str | None = None
    async with httpx.AsyncClient(transport=emu, base_url="https://sp.test") as client:
        for _ in range(5):
            params = base | ({"nextToken": next_token} if next_token else {})
            body = (
                await client.get(
                    "/fba/inventory/v1/summaries",
                    params=params,
                    headers={"x-amz-access-token": access},
                )
            ).json()
            skus += [s["sellerSku"] for s in body["payload"]["inventorySummaries"]]
            next_token = body.get("pagination", {}).get("nextToken")
            if not next_token:
                break
    assert skus == [s.sku for s in states]


# --- faults ------------------------------------------------------------------------------------


def sp_calls(emu: AmazonEmulator) -> int:
    return sum(c != "lwa" for c in emu.calls)


async def test_429_with_retry_after_is_retried_and_honoured() -> None:
    time = FakeClock(now=1000.0)
    emu = emulator(listing(), faults=Faults(statuses=[Scripted(429, retry_after=2.5)]))
    async with make(emu, time) as adapter:
        got = await adapter.read_listing("SKU-1")
    assert got.quantity == 5
    assert sp_calls(emu) == 2
    # Retry-After exactly, plus its small jitter, and no bucket refill on top.
    assert len(time.sleeps) == 1 and 2.5 <= time.sleeps[0] <= 2.5 + retry_after_spread(2.5)


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (429, "rate_limited", "QuotaExceeded: You exceeded your quota"),
        (500, "server_error", "InternalFailure: We encountered an internal error"),
        (503, "server_error", "ServiceUnavailable: Temporary overloading"),
    ],
)
async def test_gives_up_within_budget_with_the_vendors_reason(
    status: int, kind: str, message: str
) -> None:
    emu = emulator(listing(), faults=Faults(statuses=[Scripted(status)] * 10))
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert sp_calls(emu) == POLICY.max_attempts
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert message in caught.value.message


async def test_5xx_then_success_is_retried() -> None:
    emu = emulator(listing(), faults=Faults(statuses=[Scripted(500), Scripted(503)]))
    async with make(emu) as adapter:
        got = await adapter.read_listing("SKU-1")
    assert (got.quantity, sp_calls(emu)) == (5, 3)


async def test_timeouts_are_retried_then_reported() -> None:
    emu = emulator(listing(), faults=Faults(timeout=True))
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert caught.value.kind == "timeout"
    assert sp_calls(emu) == POLICY.max_attempts


async def test_malformed_body_is_bad_payload_and_not_retried() -> None:
    emu = emulator(listing(), faults=Faults(malformed=True))
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert (caught.value.kind, sp_calls(emu)) == ("bad_payload", 1)


async def test_wrong_shape_is_bad_payload() -> None:
    async with make(
        serving({"sku": "S", "summaries": "nope"}), seller_id="A", marketplace_id="M"
    ) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("S")
    assert caught.value.kind == "bad_payload"
    assert "summaries" in caught.value.message


async def test_expired_token_is_refreshed_once_then_reported_as_auth() -> None:
    emu = emulator(listing(), faults=Faults(expired_token=True))
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert (caught.value.kind, caught.value.status) == ("auth", 403)
    assert "Unauthorized" in caught.value.message
    assert emu.calls == ["lwa", "getListingsItem", "lwa", "getListingsItem"]


async def test_a_token_expired_by_amazon_is_replaced_and_the_read_succeeds() -> None:
    emu = emulator(listing())
    async with make(emu) as adapter:
        await adapter.read_listing("SKU-1")
        emu.expire_tokens()
        got = await adapter.read_listing("SKU-1")
    assert got.quantity == 5
    assert emu.calls == ["lwa", "getListingsItem", "getListingsItem", "lwa", "getListingsItem"]


async def test_token_is_cached_until_shortly_before_it_expires() -> None:
    time = FakeClock(now=1000.0)
    emu = emulator(listing(), clock=time, token_ttl=3600)
    async with make(emu, time) as adapter:
        await adapter.read_listing("SKU-1")
        time.now += 3600 - TOKEN_MARGIN_SECONDS - 1
        await adapter.read_listing("SKU-1")
        time.now += 2
        await adapter.read_listing("SKU-1")
    assert emu.calls.count("lwa") == 2
    assert sp_calls(emu) == 3  # never sent an expired token


@pytest.mark.parametrize(
    ("credentials", "status", "text"),
    [
        (dataclasses.replace(CANARY, client_secret="amzn1.oa2-cs.v1.other"), 401, "invalid_client"),
        (dataclasses.replace(CANARY, refresh_token="Atzr|other"), 400, "invalid_grant"),
    ],
    ids=["client", "refresh-token"],
)
async def test_lwa_refusals_are_auth(credentials: LwaCredentials, status: int, text: str) -> None:
    emu = AmazonEmulator(listing(), credentials=credentials)
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert (caught.value.kind, caught.value.status) == ("auth", status)
    assert text in caught.value.message
    assert sp_calls(emu) == 0


async def test_missing_credential_names_the_variable_and_sends_nothing() -> None:
    emu = emulator(listing())
    async with make(emu, environ={"SP_API_CLIENT_ID": "x"}) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("SKU-1")
    assert caught.value.kind == "auth"
    assert "SP_API_REFRESH_TOKEN" in caught.value.message
    assert emu.calls == []


async def test_credentials_come_from_the_named_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_AMZ_ID", CANARY.client_id)
    monkeypatch.setenv("MY_AMZ_SECRET", CANARY.client_secret)
    monkeypatch.setenv("MY_AMZ_REFRESH", CANARY.refresh_token)
    emu = emulator(listing())
    adapter = AmazonSpApi.from_settings(
        base_url="https://sp.proxy.test",
        credentials={
            "client_id": "MY_AMZ_ID",
            "client_secret": "MY_AMZ_SECRET",
            "refresh_token": "MY_AMZ_REFRESH",
        },
        options={
            "seller_id": emu.seller_id,
            "marketplace_id": emu.marketplace_id,
            "lwa_base_url": "https://lwa.proxy.test",
            "feed_source": "repricer:RepricerExpress",
            "buffer": 3,
        },
        transport=emu,
        retry=RetryPolicy.off(),
    )
    async with adapter:
        got = await adapter.read_listing("SKU-1")
    assert (got.feed_source, got.buffer) == ("repricer:RepricerExpress", 3)
    assert [r.url.host for r in emu.requests] == ["lwa.proxy.test", "sp.proxy.test"]


@pytest.mark.parametrize(
    "options",
    [
        {"marketplace_id": "M"},
        {"seller_id": "S", "marketplace_id": "M", "region": "us"},
        {"seller_id": "S", "marketplace_id": "M", "buffer": -1},
    ],
)
def test_from_settings_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="amazon: options"):
        AmazonSpApi.from_settings(options=options)


async def test_unknown_sku_is_not_found() -> None:
    emu = emulator(listing())
    async with make(emu) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.read_listing("NOPE")
    assert (caught.value.kind, caught.value.status) == ("not_found", 404)
    assert "SKU 'NOPE' not found" in caught.value.message
    assert sp_calls(emu) == 1


async def test_latency_is_slept_inside_the_transport() -> None:
    time = FakeClock(now=1000.0)
    emu = emulator(listing(), faults=Faults(latency=1.75), sleep=time.sleep)
    async with make(emu) as adapter:
        await adapter.read_listing("SKU-1")
    assert time.sleeps == [1.75]


async def test_adopts_the_rate_amazon_reports() -> None:
    emu = emulator(listing(), rates={"getListingsItem": (0.5, 10.0)})
    async with make(emu) as adapter:
        assert adapter.limiters["getListingsItem"].rate == 5.0
        await adapter.read_listing("SKU-1")
        assert adapter.limiters["getListingsItem"].rate == 0.5
        assert adapter.limiters["getInventorySummaries"].rate == 2.0


async def test_emulator_throttles_beyond_the_burst() -> None:
    time = FakeClock(now=1000.0)
    emu = emulator(listing(), clock=time, rates={"getListingsItem": (1.0, 2.0)})
    token = emu.issue_token()
    url = "/listings/2021-08-01/items/A3EMULATORSELLER/SKU-1?marketplaceIds=ATVPDKIKX0DER"
    async with httpx.AsyncClient(transport=emu, base_url="https://sp.test") as client:
        statuses = [
            (await client.get(url, headers={"x-amz-access-token": token})).status_code
            for _ in range(3)
        ]
        time.now += 1.0
        statuses.append((await client.get(url, headers={"x-amz-access-token": token})).status_code)
    assert statuses == [200, 200, 429, 200]


async def test_emulator_refuses_unknown_tokens_and_bad_parameters() -> None:
    emu = emulator(listing())
    token = emu.issue_token()
    path = "/listings/2021-08-01/items/A3EMULATORSELLER/SKU-1"
    async with httpx.AsyncClient(transport=emu, base_url="https://sp.test") as client:
        anonymous = await client.get(path, params={"marketplaceIds": "ATVPDKIKX0DER"})
        bad_enum = await client.get(
            path,
            params={"marketplaceIds": "ATVPDKIKX0DER", "includedData": "everything"},
            headers={"x-amz-access-token": token},
        )
        no_marketplace = await client.get(path, headers={"x-amz-access-token": token})
    assert anonymous.status_code == 403
    assert anonymous.json()["errors"][0]["code"] == "Unauthorized"
    assert (bad_enum.status_code, no_marketplace.status_code) == (400, 400)


# --- canaries ----------------------------------------------------------------------------------


async def test_credentials_never_leak_into_logs_errors_or_raw(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    emu = emulator(listing(), faults=Faults(statuses=[Scripted(503)]))
    async with make(emu) as adapter:
        got = await adapter.read_listing("SKU-1")
        emu.faults.expired_token = True
        with pytest.raises(AdapterError) as expired:
            await adapter.read_listing("SKU-1")
        errors.append(str(expired.value))
    wrong = AmazonEmulator(
        listing(), credentials=dataclasses.replace(CANARY, client_secret="x" * 8)
    )
    async with make(wrong) as adapter:
        with pytest.raises(AdapterError) as refused:
            await adapter.read_listing("SKU-1")
        errors.append(str(refused.value))

    issued = {
        r.headers["x-amz-access-token"] for r in emu.requests if "x-amz-access-token" in r.headers
    }
    assert issued
    canaries = [CANARY.client_id, CANARY.client_secret, CANARY.refresh_token, *issued]
    exposed = [caplog.text, *errors, json.dumps(got.raw), repr(got)]
    assert caplog.records
    assert [c for c in canaries for text in exposed if c in text] == []
