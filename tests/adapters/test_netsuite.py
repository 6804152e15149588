"""NetSuite adapter over its emulator: TBA signing, every SuiteQL statement, paging, escaping,
the scenario library round trip, faults, concurrency, and credential canaries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import ValidationError

from tests.fakes import FakeClock
from tools.erp.netsuite import NetSuiteErp
from tools.erp.netsuite_auth import (
    TbaCredentials,
    TbaEnv,
    parse_authorization,
    signature_base_string,
)
from tools.erp.netsuite_config import (
    ITEM_TYPES,
    MAX_PAGE_SIZE,
    SUITEQL_PATH,
    NetSuiteConfig,
    OutboundEventRecord,
    TriggerRuleRecord,
    WebhookLogRecord,
)
from tools.erp.netsuite_degradation import NOT_VISIBLE
from tools.erp.netsuite_queries import literal
from tools.errors import AdapterError
from tools.models import (
    ErpItem,
    ErpListener,
    ErpSnapshot,
    IntegrationUser,
    InventoryTransaction,
    LocationQuantity,
    OutboundEvent,
    Source,
    TriggerRule,
    WebhookLogEntry,
)
from tools.ratelimit import ConcurrencySlots
from tools.retry import RetryPolicy, retry_after_spread
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.emulators.netsuite import (
    NetSuiteEmulator,
    QueryError,
    listener_scripts,
    sandbox_environ,
    stocked_locations,
)
from tools.sandbox.scenario import Scenario, load_library

from .rounds import LockStep

NOTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "netsuite" / "NOTES.md"

CANARY = TbaCredentials(
    consumer_key="ck-CANARY-5d1e77a0",
    consumer_secret="cs-CANARY-91b3f2c4",
    token_id="tk-CANARY-0a6e3b58",
    token_secret="ts-CANARY-7c2d94e1",
)
ENVIRON = sandbox_environ(TbaEnv(), CANARY)
NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=2)
SKU = "SKU-NS1"


def full_config(**overrides: Any) -> NetSuiteConfig:
    settings: dict[str, Any] = {
        "account_id": "1234567",
        "do_not_stock_field": "custitem_do_not_stock",
        "available_to_fulfil_field": "custitem_available_to_fulfil",
        "origin_field": "custbody_origin",
        "listener_scripts": {"customscript_inv_sync": "inventory_update"},
        "integration_user": "celigo-integration",
        "integration_role": "Celigo Integration",
        "trigger_rule_record": TriggerRuleRecord(),
        "webhook_log_record": WebhookLogRecord(),
        "outbound_event_record": OutboundEventRecord(),
        **overrides,
    }
    return NetSuiteConfig(**settings)


def at(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def snapshot(sku: str = SKU, **overrides: Any) -> ErpSnapshot:
    base: dict[str, Any] = {
        "source": Source(system="netsuite", endpoint="test"),
        "read_at": NOW,
        "vendor": "netsuite",
        "item": ErpItem(item_id="4417", sku=sku, name="Merino Sock", item_type_raw="InvtPart"),
        "available": 14,
        "locations": [
            LocationQuantity(
                location_id="1",
                name="Main",
                kind="warehouse",
                available=10,
                on_hand=12,
                committed=2,
            ),
            LocationQuantity(
                location_id="3", name="Leeds", kind="warehouse", available=4, on_hand=4, committed=0
            ),
        ],
        "transactions": [
            InventoryTransaction(
                at=at(5),
                kind="sale",
                quantity=-2,
                location_id="1",
                source_id="evt-1",
                origin="wholesale",
                memo="order 88",
            ),
            InventoryTransaction(
                at=at(3),
                kind="adjustment",
                quantity=-1,
                location_id="1",
                source_id="evt-2",
                origin="integration",
                status="pending_approval",
            ),
            InventoryTransaction(
                at=at(2), kind="receipt", quantity=6, location_id="3", status="posted"
            ),
            InventoryTransaction(
                at=at(1), kind="return", quantity=1, location_id="3", status="rejected"
            ),
            InventoryTransaction(at=at(60), kind="transfer", quantity=3, location_id="3"),
        ],
        "last_inventory_update_at": at(2),
        "listeners": [
            ErpListener(
                id="customdeploy_inv_sync",
                name="Inventory RESTlet",
                active=False,
                endpoint="https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=801&deploy=1",
            ),
        ],
        "trigger_rules": [TriggerRule(id="7", name="Ignore small changes", min_delta=5)],
        "webhook_log": [
            WebhookLogEntry(
                at=at(3), sku=sku, status_code=422, message="quantity rejected", source_id="evt-2"
            )
        ],
        "outbound_events": [
            OutboundEvent(
                at=at(4), kind="inventory_update", sku=sku, target="https://api.integrator.io/x"
            )
        ],
        "integration_user": IntegrationUser(
            name="celigo-integration",
            role="Celigo Integration",
            can_write_inventory=False,
            auth_errors=["InvalidSignature"],
            last_auth_error_at=at(6),
        ),
    }
    return ErpSnapshot(**{**base, **overrides})


def build(
    state: ErpSnapshot | list[ErpSnapshot],
    config: NetSuiteConfig | None = None,
    *,
    faults: Faults | None = None,
    environ: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
    emulator_config: NetSuiteConfig | None = None,
    clock: FakeClock | None = None,
    **options: Any,
) -> tuple[NetSuiteErp, NetSuiteEmulator]:
    config = config or full_config()
    emulator = NetSuiteEmulator(
        state,
        faults,
        config=emulator_config or config,
        credentials=CANARY,
        **options.pop("emulator", {}),
    )
    clock = clock or FakeClock()
    adapter = NetSuiteErp(
        config,
        transport=emulator,
        environ=ENVIRON if environ is None else environ,
        retry=retry or RetryPolicy.interactive(),
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda cap: cap,
        now=lambda: NOW,
        **options,
    )
    return adapter, emulator


async def read(adapter: NetSuiteErp, sku: str = SKU, since: datetime = SINCE) -> ErpSnapshot:
    async with adapter:
        return await adapter.read_item(sku, since)


def attempts(emulator: NetSuiteEmulator) -> Counter[str]:
    """How often each statement was sent (the statements of a read go out together, so a fault
    reaches several of them; retries are counted per statement)."""
    return Counter(json.loads(r.content)["q"] for r in emulator.requests)


# --- TBA signing -------------------------------------------------------------------------------


def test_base_string_matches_rfc5849_example_for_query_and_oauth_parameters() -> None:
    # RFC 5849 section 3.4.1.1's request, minus its form-encoded body (a JSON body signs nothing):
    # the RFC's normalized parameters without "a3=2%20q" and "c2=".
    url = httpx.URL("http://EXAMPLE.COM:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b")
    oauth = {
        "oauth_consumer_key": "9djdj82h48djs9d2",
        "oauth_token": "kkk9d7dh3k39sjv7",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "137131201",
        "oauth_nonce": "7d8f3e4a",
        "realm": "Example",
        "oauth_signature": "ignored",
    }
    assert signature_base_string("post", url, oauth) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3Da%26b5%3D%253D%25253D"
        "%26c%2540%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a"
        "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201"
        "%26oauth_token%3Dkkk9d7dh3k39sjv7"
    )


async def test_signature_matches_an_hmac_sha256_computed_from_the_rfc_steps() -> None:
    config = full_config(account_id="1234567_sb1")
    creds = TbaCredentials("key+1", "secret&/=", "token id", "tok~secret")
    adapter, emulator = build(
        snapshot(),
        config,
        environ=sandbox_environ(TbaEnv(), creds),
        nonce=iter(
            ["n0nce", *(f"n{i}" for i in range(50))]
        ).__next__,  # NetSuite refuses reused nonces
        timestamp=lambda: "1763622000",
    )
    emulator.credentials = creds
    await read(adapter)

    request = emulator.requests[0]
    assert str(request.url).startswith(
        "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=1000&offset=0"
    )
    header = parse_authorization(request.headers["Authorization"])
    assert header["realm"] == "1234567_SB1"

    def enc(s: str) -> str:
        return quote(s, safe="-._~")

    params = sorted(
        [
            ("limit", "1000"),
            ("offset", "0"),
            ("oauth_consumer_key", "key+1"),
            ("oauth_nonce", "n0nce"),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", "1763622000"),
            ("oauth_token", "token id"),
            ("oauth_version", "1.0"),
        ]
    )
    normalized = "&".join(f"{enc(k)}={enc(v)}" for k, v in params)
    base = "&".join(
        [
            "POST",
            enc("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql"),
            enc(normalized),
        ]
    )
    key = f"{enc('secret&/=')}&{enc('tok~secret')}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    assert header["oauth_signature"] == expected
    assert request.headers["Authorization"].startswith(
        'OAuth realm="1234567_SB1", oauth_consumer_key="key%2B1"'
    )


async def test_every_attempt_gets_a_fresh_nonce() -> None:
    adapter, emulator = build(snapshot(), faults=Faults(statuses=[Scripted(503)]))
    await read(adapter)
    nonces = [
        parse_authorization(r.headers["Authorization"])["oauth_nonce"] for r in emulator.requests
    ]
    assert len(nonces) == len(set(nonces)) > 1


async def test_wrong_secret_is_refused_with_netsuites_login_error_and_not_retried() -> None:
    environ = {**ENVIRON, "NETSUITE_TOKEN_SECRET": "not-the-secret"}
    adapter, emulator = build(snapshot(), environ=environ)
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert caught.value.kind == "auth"
    assert caught.value.status == 401
    assert caught.value.message.startswith("INVALID_LOGIN_ATTEMPT: Invalid login attempt.")
    assert set(attempts(emulator).values()) == {1}  # no statement sent twice


async def test_missing_credential_names_the_variable_and_sends_nothing() -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "NETSUITE_CONSUMER_SECRET"}
    adapter, emulator = build(snapshot(), environ=environ)
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert caught.value.kind == "auth"
    assert "NETSUITE_CONSUMER_SECRET" in str(caught.value)
    assert emulator.requests == []


async def test_env_var_names_and_base_url_come_from_settings() -> None:
    environ = dict(
        zip(
            ["A_CK", "A_CS", "A_TI", "A_TS"],
            sandbox_environ(TbaEnv(), CANARY).values(),
            strict=True,
        )
    )
    settings = {
        "account_id": "1234567",
        "base_url": "https://proxy.example.test",
        "consumer_key_env": "A_CK",
        "consumer_secret_env": "A_CS",
        "token_id_env": "A_TI",
        "token_secret_env": "A_TS",
    }
    emulator = NetSuiteEmulator(
        snapshot(), config=NetSuiteConfig(account_id="1234567"), credentials=CANARY
    )
    async with NetSuiteErp.from_settings(settings, transport=emulator, environ=environ) as adapter:
        got = await adapter.read_item(SKU, SINCE)
    assert got.item.item_id == "4417"
    assert {r.url.host for r in emulator.requests} == {"proxy.example.test"}


def test_default_hosts_follow_the_account_id() -> None:
    config = NetSuiteConfig(account_id="1234567_sb1")
    assert config.account_id == "1234567_SB1"
    assert config.suitetalk_url == "https://1234567-sb1.suitetalk.api.netsuite.com"
    assert config.restlet_url == "https://1234567-sb1.restlets.api.netsuite.com"


# --- the SuiteQL the adapter sends ---------------------------------------------------------------


async def test_sends_exactly_these_suiteql_statements() -> None:
    adapter, emulator = build(snapshot())
    await read(adapter)
    ts = "TO_TIMESTAMP('2026-11-18 07:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    wh = "customrecord_oos_webhook_log"
    ob = "customrecord_oos_outbound_event"
    tr = "customrecord_oos_trigger_rule"
    assert sorted(emulator.queries) == sorted(
        [
            # No statement waits for the item's internal id: each names the item by its SKU.
            "SELECT item.id, item.itemid, item.displayname, item.itemtype, item.isinactive, item.custitem_do_not_stock AS donotstock, item.custitem_available_to_fulfil AS availabletofulfil, iil.location, BUILTIN.DF(iil.location) AS locationname, iil.quantityavailable, iil.quantityonhand, iil.quantitycommitted FROM item LEFT OUTER JOIN inventoryitemlocations iil ON iil.item = item.id WHERE item.itemid = 'SKU-NS1' ORDER BY iil.location",
            f"SELECT t.id, t.tranid, t.type, TO_CHAR(t.createddate, 'YYYY-MM-DD HH24:MI:SS') AS createdat, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, t.externalid, t.memo, t.approvalstatus, tl.quantity, tl.location, t.custbody_origin AS origin FROM transaction t JOIN transactionline tl ON tl.transaction = t.id JOIN item ON item.id = tl.item WHERE item.itemid = 'SKU-NS1' AND t.createddate >= {ts} ORDER BY t.createddate, t.id, tl.id",
            "SELECT TO_CHAR(MAX(t.createddate), 'YYYY-MM-DD HH24:MI:SS') AS lastupdate FROM transaction t JOIN transactionline tl ON tl.transaction = t.id JOIN item ON item.id = tl.item WHERE item.itemid = 'SKU-NS1' AND tl.isinventoryaffecting = 'T'",
            "SELECT scriptdeployment.primarykey AS id, scriptdeployment.scriptid, scriptdeployment.title, scriptdeployment.status, scriptdeployment.isdeployed, script.id AS scriptinternalid, script.scriptid AS script, script.scripttype FROM scriptdeployment JOIN script ON script.id = scriptdeployment.script WHERE script.scriptid IN ('customscript_inv_sync') ORDER BY scriptdeployment.primarykey",
            f"SELECT {tr}.id, {tr}.name, {tr}.isinactive, {tr}.custrecord_oos_min_delta AS mindelta FROM {tr} ORDER BY {tr}.id",
            f"SELECT {wh}.id, TO_CHAR({wh}.created, 'YYYY-MM-DD HH24:MI:SS') AS createdat, {wh}.custrecord_oos_sku AS sku, {wh}.custrecord_oos_status_code AS statuscode, {wh}.custrecord_oos_message AS message, {wh}.custrecord_oos_source_id AS sourceid FROM {wh} WHERE {wh}.created >= {ts} AND ({wh}.custrecord_oos_sku = 'SKU-NS1' OR {wh}.custrecord_oos_sku IS NULL) ORDER BY {wh}.created, {wh}.id",
            f"SELECT {ob}.id, TO_CHAR({ob}.created, 'YYYY-MM-DD HH24:MI:SS') AS createdat, {ob}.custrecord_oos_kind AS kind, {ob}.custrecord_oos_sku AS sku, {ob}.custrecord_oos_target AS target FROM {ob} WHERE {ob}.created >= {ts} AND {ob}.custrecord_oos_sku = 'SKU-NS1' ORDER BY {ob}.created, {ob}.id",
            f"SELECT employee.id, employee.entityid, employee.isinactive, employee.giveaccess, TO_CHAR(loginaudit.date, 'YYYY-MM-DD HH24:MI:SS') AS at, loginaudit.status, loginaudit.detail FROM employee LEFT OUTER JOIN loginaudit ON loginaudit.user = employee.id AND loginaudit.status = 'Failure' AND loginaudit.date >= {ts} WHERE employee.entityid = 'celigo-integration' ORDER BY loginaudit.date DESC",
            "SELECT role.id, role.name, role.isinactive, rolepermissions.permkey, rolepermissions.permlevel FROM role LEFT OUTER JOIN rolepermissions ON rolepermissions.role = role.id AND rolepermissions.permkey IN ('TRAN_INVADJST') WHERE role.name = 'Celigo Integration'",
        ]
    )


async def test_requests_are_signed_transient_posts_with_paging_in_the_url() -> None:
    adapter, emulator = build(snapshot())
    await read(adapter)
    for request in emulator.requests:
        assert (request.method, request.url.path) == ("POST", SUITEQL_PATH)
        assert request.headers["Prefer"] == "transient"
        assert request.headers["Authorization"].startswith('OAuth realm="1234567"')
        assert dict(request.url.params) == {"limit": "1000", "offset": "0"}
        assert list(json.loads(request.content)) == ["q"]


async def test_reads_every_page_until_has_more_is_false() -> None:
    adapter, emulator = build(snapshot(), full_config(page_size=2))
    got = await read(adapter, since=NOW - timedelta(days=5))
    pages = [
        r
        for r in emulator.requests
        if "FROM transaction t JOIN" in json.loads(r.content)["q"]
        and "MAX(" not in json.loads(r.content)["q"]
    ]
    assert [r.url.params["offset"] for r in pages] == ["0", "2", "4"]
    assert [t.at for t in got.transactions] == [at(60), at(5), at(3), at(2), at(1)]
    assert len(got.raw["transactions"]["pages"]) == 3  # type: ignore[index]


async def test_the_since_bound_is_written_in_the_users_time_zone() -> None:
    config = full_config(timezone="America/Los_Angeles")
    adapter, emulator = build(snapshot(), config)
    got = await read(adapter)
    bound = "TO_TIMESTAMP('2026-11-17 23:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    assert (
        sum(bound in q for q in emulator.queries) == 4
    )  # transactions, webhooks, outbound, logins
    assert [t.at for t in got.transactions] == [at(5), at(3), at(2), at(1)]


# --- escaping ----------------------------------------------------------------------------------


def test_literals_double_quotes() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert literal("x' OR '1'='1") == "'x'' OR ''1''=''1'"


async def test_a_sku_with_a_quote_is_one_literal_in_every_statement() -> None:
    sku = "O'Brien-CAP"
    adapter, emulator = build(snapshot(sku))
    got = await read(adapter, sku)
    assert got.item.sku == sku
    assert [w.sku for w in got.webhook_log] == [sku]
    assert [t.at for t in got.transactions] == [at(5), at(3), at(2), at(1)]
    assert got.locations and got.last_inventory_update_at == at(2)
    assert sum("item.itemid = 'O''Brien-CAP'" in q for q in emulator.queries) == 3  # item, tx, last
    # … and webhook log, outbound events; nowhere unescaped
    assert sum("'O''Brien-CAP'" in q for q in emulator.queries) == 5


async def test_an_injection_looking_sku_matches_nothing() -> None:
    adapter, emulator = build(snapshot())
    with pytest.raises(AdapterError) as caught:
        await read(adapter, "x' OR '1'='1")
    assert caught.value.kind == "not_found"
    # Every statement that names the SKU names it as one literal, which matches no item.
    naming = [q for q in emulator.queries if "OR ''1''" in q]
    assert any(q.startswith("SELECT item.id") for q in naming)
    assert all("'x'' OR ''1''=''1'" in q for q in naming)


@pytest.mark.parametrize(
    "field, value",
    [
        ("do_not_stock_field", "custitem_x FROM item --"),
        ("origin_field", "custbody_x, (SELECT 1)"),
        ("listener_scripts", {"customscript_x') OR ('1": "inventory_update"}),
        ("webhook_log_record", {"record": "customrecord_x; DROP"}),
    ],
)
def test_config_refuses_identifiers_that_are_not_plain_names(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        NetSuiteConfig.model_validate({"account_id": "1234567", field: value})


# --- mapping -------------------------------------------------------------------------------------


async def test_maps_the_item_quantities_transactions_listeners_and_user() -> None:
    adapter, _ = build(snapshot())
    got = await read(adapter)
    assert got.source == Source(
        system="netsuite", endpoint="POST /services/rest/query/v1/suiteql", record="item 4417"
    )
    assert (got.item.item_type, got.item.item_type_raw, got.available) == (
        "inventory",
        "InvtPart",
        14,
    )
    assert [
        (loc.location_id, loc.name, loc.available, loc.on_hand, loc.committed)
        for loc in got.locations
    ] == [
        ("1", "Main", 10, 12, 2),
        ("3", "Leeds", 4, 4, 0),
    ]
    assert [(t.kind, t.quantity, t.status, t.origin, t.source_id) for t in got.transactions] == [
        ("sale", -2, "posted", "wholesale", "evt-1"),
        ("adjustment", -1, "pending_approval", "integration", "evt-2"),
        ("receipt", 6, "posted", None, None),
        ("return", 1, "rejected", None, None),
    ]
    assert got.listeners == [
        ErpListener(
            id="customdeploy_inv_sync",
            name="Inventory RESTlet",
            active=False,
            endpoint="https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=801&deploy=1",
        )
    ]
    assert got.integration_user == IntegrationUser(
        name="celigo-integration",
        role="Celigo Integration",
        can_write_inventory=False,
        auth_errors=["InvalidSignature"],
        last_auth_error_at=at(6),
    )
    assert got.not_visible == []


@pytest.mark.parametrize(
    "code, kind",
    [
        ("InvtPart", "inventory"),
        ("Assembly", "inventory"),
        ("NonInvtPart", "non_inventory"),
        ("Service", "service"),
        ("Kit", "kit"),
        ("Group", "other"),
        ("Discount", "other"),
    ],
)
async def test_item_type_codes(code: str, kind: str) -> None:
    item = ErpItem(item_id="4417", sku=SKU, name="x", item_type=kind, item_type_raw=code)
    adapter, _ = build(snapshot(item=item))
    got = await read(adapter)
    assert (got.item.item_type, got.item.item_type_raw) == (kind, code)


async def test_unconfigured_facts_are_not_visible_with_where_to_look() -> None:
    adapter, emulator = build(snapshot(), NetSuiteConfig(account_id="1234567"))
    got = await read(adapter)
    assert [n.split(":")[0] for n in got.not_visible] == [
        "item_flags",
        "listeners",
        "trigger_rules",
        "webhook_log",
        "outbound_events",
        "integration_user",
    ]
    assert (
        "webhook_log: NetSuite keeps no inbound-call log by default; look in Customization > Scripting > Script Deployments > Execution Log"
        in got.not_visible
    )
    assert "Setup > Users/Roles" in NOT_VISIBLE["integration_user"]
    assert (got.listeners, got.webhook_log, got.integration_user) == ([], [], None)
    assert not any(
        "custitem" in q or "customrecord" in q or "employee" in q for q in emulator.queries
    )


async def test_a_refused_login_audit_trail_leaves_the_user_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The role may read employees but not the login audit trail: the joined statement is
    # refused, the employee is read again on its own, and only the trail is not visible.
    adapter, emulator = build(snapshot())

    def refuse(*_: Any) -> list[Any]:
        raise QueryError("Search error occurred: Record 'loginaudit' was not found.")

    monkeypatch.setattr(emulator, "_login_failures", refuse)
    got = await read(adapter)
    [note] = got.not_visible
    assert note.startswith(
        "login_audit: NetSuite did not show it: the employee statement was refused (table loginaudit; HTTP 400: INVALID_PARAMETER"
    )
    assert note.endswith("look in Setup > Users/Roles > User Management > View Login Audit Trail")
    assert got.integration_user == IntegrationUser(
        name="celigo-integration",
        role="Celigo Integration",
        can_write_inventory=False,
        auth_errors=[],
        last_auth_error_at=None,
    )
    employee = [q for q in emulator.queries if "FROM employee" in q]
    assert [("loginaudit" in q) for q in employee] == [True, False]


async def test_an_optional_record_netsuite_refuses_becomes_not_visible() -> None:
    # The adapter is told about a webhook-log record the account does not have.
    adapter, _ = build(snapshot(), emulator_config=full_config(webhook_log_record=None))
    got = await read(adapter)
    [note] = got.not_visible
    assert note.startswith(
        "webhook_log: NetSuite did not show it: the webhook_log statement was refused (column customrecord_oos_webhook_log; HTTP 400: INVALID_PARAMETER: Invalid search query."
    )
    assert "it needs View on the custom record type customrecord_oos_webhook_log" in note
    assert note.endswith("look in Customization > Scripting > Script Deployments > Execution Log")
    assert got.transactions and got.listeners  # the rest of the read stands


async def test_an_unknown_custom_flag_field_loses_the_flags_only() -> None:
    # The config names a do-not-stock checkbox the account does not have: NetSuite refuses the
    # item statement naming it; the item is read again without it, and only the flags are lost.
    adapter, emulator = build(snapshot(), emulator_config=full_config(do_not_stock_field=None))
    got = await read(adapter)
    [note] = got.not_visible
    assert note.startswith(
        "item_flags: NetSuite did not show it: the item statement was refused (column item.custitem_do_not_stock; HTTP 400: INVALID_PARAMETER: Invalid search query. Detailed unprocessed description follows. Search error occurred: Unknown identifier 'item.custitem_do_not_stock'."
    )
    assert "it needs the custom field custitem_do_not_stock to exist" in note
    assert got.item.item_id == "4417" and got.locations and got.transactions
    items = [q for q in emulator.queries if "FROM item " in q]
    assert ["custitem_do_not_stock" in q for q in items] == [True, False]


async def test_a_refused_item_column_fails_the_read_naming_the_statement_and_column() -> None:
    adapter, _ = build(snapshot(), emulator={"absent_columns": ["displayname"]})
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert caught.value.status == 400
    assert caught.value.describe().startswith(
        "netsuite the item statement was refused (column item.displayname; HTTP 400: INVALID_PARAMETER"
    )
    assert "could not read" not in caught.value.describe()


async def test_an_account_without_approval_routing_loses_the_approval_status_only() -> None:
    # approvalstatus is not found in any public SuiteQL: an account without it refuses the
    # transactions statement; it goes again without the column (one more request, only then).
    adapter, emulator = build(snapshot(), emulator={"absent_columns": ["approvalstatus"]})
    got = await read(adapter)
    [note] = got.not_visible
    assert note.startswith(
        "approval_status: NetSuite did not show it: the transactions statement was refused (column t.approvalstatus; HTTP 400: INVALID_PARAMETER"
    )
    assert "Approval Routing" in note and note.endswith("Adjust Inventory > List")
    assert got.transactions == snapshot().transactions or got.transactions
    assert all(t.status == "posted" for t in got.transactions)
    tx = [q for q in emulator.queries if "FROM transaction t JOIN" in q and "MAX(" not in q]
    assert ["approvalstatus" in q for q in tx] == [True, False]
    assert got.raw is not None and "transactions" in got.raw["refused"]


async def test_a_denied_transactions_table_loses_the_transaction_facts_only() -> None:
    adapter, _ = build(snapshot(), emulator={"denied_tables": ["transactionline"]})
    got = await read(adapter)
    hidden = {n.split(":")[0]: n for n in got.not_visible}
    assert set(hidden) == {"transactions", "last_update"}
    assert hidden["transactions"].startswith(
        "transactions: NetSuite did not show it: the transactions statement was denied (no permission) (table transactionline; HTTP 403: INSUFFICIENT_PERMISSION"
    )
    assert "Find Transaction (View)" in hidden["transactions"]
    assert got.transactions == [] and got.last_inventory_update_at is None
    assert got.item.item_id == "4417" and got.listeners and got.integration_user is not None


async def test_unknown_sku_is_not_found() -> None:
    adapter, _ = build(snapshot())
    with pytest.raises(AdapterError) as caught:
        await read(adapter, "SKU-NOPE")
    assert caught.value.kind == "not_found"


# --- contract: the NetSuite notes ------------------------------------------------------------


@pytest.fixture(scope="module")
def notes() -> str:
    if not NOTES.is_file():
        pytest.skip(
            f"NetSuite notes not found at {NOTES} (the shared specs folder sits beside the repo)"
        )
    return NOTES.read_text(encoding="utf-8")


def bullet(notes: str, marker: str) -> str:
    """The list item of the notes that contains ``marker``, its wrapped lines joined."""
    items = [" ".join(item.split()) for item in re.split(r"\n- ", notes)]
    return next(item for item in items if marker in item)


def test_contract_suiteql_endpoint_and_headers(notes: str) -> None:
    match = re.search(
        r"`POST https://\{accountId\}\.suitetalk\.api\.netsuite\.com(?P<path>/\S+?)`", notes
    )
    assert match and match["path"] == SUITEQL_PATH
    assert "`Prefer: transient`" in notes and '`{"q": "SELECT ..."}`' in notes
    assert (
        NetSuiteConfig(account_id="demo123").suitetalk_url
        == "https://demo123.suitetalk.api.netsuite.com"
    )


async def test_contract_page_shape_and_page_size(notes: str) -> None:
    line = bullet(notes, "SuiteQL responses carry")
    documented = set(re.findall(r"`(\w+)`", line)) - {"limit"}
    assert documented == {"items", "hasMore", "count", "offset", "totalResults", "links"}
    assert "largest `limit` per page is 1000" in notes.replace("\n", " ")
    assert MAX_PAGE_SIZE == 1000
    emulator = NetSuiteEmulator(snapshot(), config=full_config(), credentials=CANARY)
    page = emulator._page(httpx.URL("https://x.test/q"), [{"id": "1"}], 1000, 0)
    assert set(page) == documented


def test_contract_item_type_codes(notes: str) -> None:
    line = bullet(notes, "`item.itemtype` holds codes")
    codes = re.findall(r"`([A-Z][A-Za-z]+)`", line)
    assert codes == ["InvtPart", "NonInvtPart", "Assembly", "Group", "Discount", "OthCharge"]
    expected = {"InvtPart": "inventory", "NonInvtPart": "non_inventory", "Assembly": "inventory"}
    assert {c: ITEM_TYPES.get(c, "other") for c in codes} == {
        c: expected.get(c, "other") for c in codes
    }


def test_contract_example_statement_runs_on_the_emulator(notes: str) -> None:
    example = re.search(r"```sql\n(?P<q>.+?)\n```", notes, re.S)
    assert example is not None
    emulator = NetSuiteEmulator(snapshot("SKU-123"), config=full_config(), credentials=CANARY)
    assert emulator.run(example["q"]) == [
        {"id": "4417", "itemid": "SKU-123", "itemtype": "InvtPart", "isinactive": "F"}
    ]


def test_a_deployments_own_id_is_primarykey_not_id() -> None:
    """Public SuiteQL usage: ``scriptdeployment.id`` is the script's internal id; the deployment's
    internal id is ``primarykey``. The emulator answers both the way NetSuite does."""
    emulator = NetSuiteEmulator(snapshot(), config=full_config(), credentials=CANARY)
    rows = emulator.run(
        "SELECT scriptdeployment.id, scriptdeployment.primarykey, script.id AS scriptinternalid"
        " FROM scriptdeployment JOIN script ON script.id = scriptdeployment.script"
        " WHERE script.scriptid IN ('customscript_inv_sync')"
    )
    assert rows == [{"id": "801", "primarykey": "1", "scriptinternalid": "801"}]


# --- the scenario library over the emulator ----------------------------------------------------

_RESTLET_HOST = re.compile(r"https://(?P<account>[a-z0-9-]+)\.restlets\.api\.netsuite\.com/")


def _library_erps() -> list[tuple[str, Scenario]]:
    return [(sku, s) for sku, s in sorted(load_library().items()) if isinstance(s.erp, ErpSnapshot)]


def config_for(snap: ErpSnapshot) -> NetSuiteConfig:
    """What an operator of this account would configure: its custom ids, scripts and user."""
    hosts = [m for x in snap.listeners if (m := _RESTLET_HOST.match(x.endpoint or ""))]
    account = hosts[0]["account"].replace("-", "_") if hosts else "1234567"
    hidden = {n.split(":")[0] for n in snap.not_visible}
    user = snap.integration_user
    return full_config(
        account_id=account,
        page_size=2,
        # With no listener in the account, the operator still names the script to look for.
        listener_scripts=listener_scripts([snap])
        or {"customscript_inventory_listener": "inventory_update"},
        integration_user=user.name if user else None,
        integration_role=user.role if user else None,
        **{
            key: None
            for topic, key in [
                ("trigger_rules", "trigger_rule_record"),
                ("webhook_log", "webhook_log_record"),
                ("outbound_events", "outbound_event_record"),
            ]
            if topic in hidden
        },
    )


def engine_view(snap: ErpSnapshot, sku: str) -> dict[str, Any]:
    """The fields the engine reads, with what NetSuite genuinely cannot carry left out."""
    data = snap.model_dump(exclude={"source", "read_at", "raw", "vendor", "not_visible"})
    # NetSuite keeps stock by location only: a scenario's bare total is one location's
    data["locations"] = [loc.model_dump() for loc in stocked_locations(snap)]
    item = data["item"]
    if not item["item_id"].isdigit():
        del item[
            "item_id"
        ]  # NetSuite internal ids are integers; other ERPs' ids get synthetic ones
    if ITEM_TYPES.get(item["item_type_raw"] or "") != item["item_type"]:
        del item[
            "item_type_raw"
        ]  # another ERP's word (Inventory, HAWA); NetSuite answers its own code
    for loc in data["locations"]:
        del loc[
            "kind"
        ]  # the engine does not read an ERP location's kind; NetSuite has no such field
    for key in ("transactions", "webhook_log", "outbound_events"):
        data[key].sort(key=lambda x: x["at"])  # NetSuite answers in time order
    # The adapter asks NetSuite for this SKU's entries only.
    data["webhook_log"] = [w for w in data["webhook_log"] if w["sku"] in (sku, None)]
    data["outbound_events"] = [e for e in data["outbound_events"] if e["sku"] == sku]
    user = data["integration_user"]
    if user and user["auth_errors"] and user["last_auth_error_at"] is None:
        # A login-audit row always has a date; the emulator dates it at the read time.
        user["last_auth_error_at"] = snap.read_at
    for n, listener in enumerate(data["listeners"], start=1):
        # SuiteQL has no deployment url: a RESTlet's address is built from its script and
        # deployment ids, and other scripts have none.
        endpoint = listener["endpoint"] or ""
        if not _RESTLET_HOST.match(endpoint):
            listener["endpoint"] = None
        elif "deploy=" not in endpoint:
            listener["endpoint"] = f"{endpoint}&deploy={n}"
    data["not_visible"] = {n.split(":")[0] for n in snap.not_visible}
    if snap.integration_user is None:
        # "No integration user" is not something NetSuite can show; the adapter says where to look.
        data["not_visible"].add("integration_user")
    return data


@pytest.mark.parametrize(
    "sku, scenario", _library_erps(), ids=lambda v: v if isinstance(v, str) else ""
)
async def test_library_scenario_round_trips(sku: str, scenario: Scenario) -> None:
    snap = scenario.erp
    assert isinstance(snap, ErpSnapshot)
    adapter, _ = build(snap, config_for(snap))
    got = await read(adapter, sku, since=datetime(2000, 1, 1, tzinfo=UTC))
    expected = engine_view(snap, sku)
    actual = got.model_dump(exclude={"source", "read_at", "raw", "vendor", "not_visible"})
    if "item_id" not in expected["item"]:
        del actual["item"]["item_id"]
    if "item_type_raw" not in expected["item"]:
        del actual["item"]["item_type_raw"]
    for loc in actual["locations"]:
        del loc["kind"]
    actual["not_visible"] = {n.split(":")[0] for n in got.not_visible}
    assert actual == expected


def test_the_library_has_netsuite_scenarios() -> None:
    assert (
        sum(
            s.erp.vendor == "netsuite" for _, s in _library_erps() if isinstance(s.erp, ErpSnapshot)
        )
        >= 3
    )


# --- faults ------------------------------------------------------------------------------------


async def test_5xx_is_retried_then_succeeds() -> None:
    clock = FakeClock()
    adapter, emulator = build(
        snapshot(), faults=Faults(statuses=[Scripted(503), Scripted(502)]), clock=clock
    )
    got = await read(adapter)
    assert got.item.item_id == "4417"
    assert len(emulator.requests) == 2 + len(
        emulator.queries
    )  # two refused attempts, then one per statement
    assert clock.sleeps == [0.5, 1.0]


async def test_5xx_gives_up_within_the_budget_with_netsuites_message() -> None:
    adapter, emulator = build(snapshot(), faults=Faults(statuses=[Scripted(503)] * 100))
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert (caught.value.kind, caught.value.status) == ("server_error", 503)
    assert (
        caught.value.message == "UNEXPECTED_ERROR: An unexpected error occurred. Error ID: emulated"
    )
    assert max(attempts(emulator).values()) == 3


async def test_429_honours_retry_after() -> None:
    clock = FakeClock()
    adapter, emulator = build(
        snapshot(), faults=Faults(statuses=[Scripted(429, retry_after=2)]), clock=clock
    )
    await read(adapter)
    # Retry-After exactly, plus its small jitter.
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.0 + retry_after_spread(2.0)
    assert len(emulator.requests) == 1 + len(emulator.queries)


async def test_429_that_persists_is_rate_limited() -> None:
    adapter, emulator = build(
        snapshot(), faults=Faults(statuses=[Scripted(429, retry_after=1)] * 100)
    )
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert (caught.value.kind, caught.value.status) == ("rate_limited", 429)
    assert "CONCURRENCY_LIMIT_EXCEEDED" in caught.value.message
    assert max(attempts(emulator).values()) == 3


async def test_timeouts_are_retried_then_reported() -> None:
    adapter, emulator = build(snapshot(), faults=Faults(timeout=True))
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert caught.value.kind == "timeout"
    assert max(attempts(emulator).values()) == 3


async def test_malformed_body_is_bad_payload_and_not_retried() -> None:
    adapter, emulator = build(snapshot(), faults=Faults(malformed=True))
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert caught.value.kind == "bad_payload"
    assert "invalid JSON" in caught.value.message
    assert set(attempts(emulator).values()) == {1}


async def test_expired_token_is_auth() -> None:
    adapter, emulator = build(snapshot(), faults=Faults(expired_token=True))
    with pytest.raises(AdapterError) as caught:
        await read(adapter)
    assert (caught.value.kind, caught.value.status) == ("auth", 401)
    assert "INVALID_LOGIN_ATTEMPT" in caught.value.message
    assert set(attempts(emulator).values()) == {1}


async def test_latency_is_slept_inside_the_transport() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    adapter, emulator = build(snapshot(), faults=Faults(latency=1.5), emulator={"sleep": sleep})
    await read(adapter)
    assert slept == [1.5] * len(emulator.requests)


# --- concurrency -------------------------------------------------------------------------------


async def lockstep_read(config: NetSuiteConfig, slots: int) -> LockStep:
    emulator = NetSuiteEmulator(snapshot(), config=config, credentials=CANARY, concurrency=slots)
    rounds = LockStep(emulator)
    adapter = NetSuiteErp(
        config, transport=rounds, environ=ENVIRON, limiter=ConcurrencySlots(slots)
    )
    got = await read(adapter)
    assert got.not_visible == [] or config != full_config()
    assert len(emulator.requests) == sum(rounds.sizes)  # nothing refused or retried
    return rounds


async def test_no_statement_waits_for_another_only_for_a_slot() -> None:
    # Nine statements, none needing another's answer: with the default five slots the read
    # costs two round trips (five, then four), with nine slots one, and unconfigured (item,
    # transactions, last update) one.
    assert (await lockstep_read(full_config(), 5)).sizes == [5, 4]
    assert (await lockstep_read(full_config(), 9)).sizes == [9]
    assert (await lockstep_read(NetSuiteConfig(account_id="1234567"), 5)).sizes == [3]


async def test_a_paged_answer_adds_only_its_own_pages() -> None:
    # Page size 2: the item (two locations) fits, the four transactions take two pages, the
    # second sent after the first's answer; nothing else waits.
    rounds = await lockstep_read(full_config(page_size=2), 9)
    assert rounds.sizes == [9, 1]
    [second] = rounds.rounds[1]
    assert "FROM transaction t JOIN" in json.loads(second.content)["q"]
    assert second.url.params["offset"] == "2"


async def _linger(_: float) -> None:
    # Hands the loop to every other request a few times, so requests overlap without real time.
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_adapter_keeps_within_the_accounts_concurrency_slots() -> None:
    faults = Faults(latency=1.0)
    adapter, emulator = build(
        snapshot(),
        faults=faults,
        emulator={"sleep": _linger, "concurrency": 3},
        limiter=ConcurrencySlots(3),
    )
    got = await read(adapter)
    assert got.not_visible == []
    assert emulator.max_in_flight == 3
    assert len(emulator.requests) == len(emulator.queries)  # no 429, nothing retried


async def test_by_default_the_adapter_uses_five_slots() -> None:
    adapter, emulator = build(
        snapshot(), faults=Faults(latency=1.0), emulator={"sleep": _linger, "concurrency": 5}
    )
    await read(adapter)
    assert emulator.max_in_flight == 5
    assert len(emulator.requests) == len(emulator.queries)  # no 429


async def test_the_emulator_refuses_requests_beyond_its_slots_with_429() -> None:
    adapter, emulator = build(
        snapshot(),
        faults=Faults(latency=1.0),
        emulator={"sleep": _linger, "concurrency": 2},
        limiter=ConcurrencySlots(8),
        retry=RetryPolicy.off(),
    )
    q = "SELECT role.id FROM role WHERE role.name = 'Celigo Integration'"
    async with adapter:
        outcomes = await asyncio.gather(
            *(adapter.suiteql(q) for _ in range(3)), return_exceptions=True
        )
    refused = [o for o in outcomes if isinstance(o, AdapterError)]
    assert len(refused) == 1
    assert (refused[0].kind, refused[0].status) == ("rate_limited", 429)
    assert refused[0].message.startswith("CONCURRENCY_LIMIT_EXCEEDED: ")
    assert emulator.max_in_flight == 2


# --- credential canaries -----------------------------------------------------------------------


async def test_credentials_never_reach_logs_errors_or_raw(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [CANARY.consumer_key, CANARY.consumer_secret, CANARY.token_id, CANARY.token_secret]

    adapter, emulator = build(snapshot(), faults=Faults(statuses=[Scripted(503)]))
    got = await read(adapter)
    adapter, _ = build(
        snapshot(), environ={**ENVIRON, "NETSUITE_CONSUMER_SECRET": "cs-CANARY-wrong-0001"}
    )
    with pytest.raises(AdapterError) as caught:
        await read(adapter)

    signatures = [
        parse_authorization(r.headers["Authorization"])["oauth_signature"]
        for r in emulator.requests
    ]
    assert "retrying" in caplog.text and "INVALID_LOGIN_ATTEMPT" in caplog.text
    for text in (
        caplog.text,
        str(caught.value),
        repr(caught.value),
        json.dumps(got.raw, default=str),
        got.model_dump_json(),
    ):
        for secret in [*secrets, "cs-CANARY-wrong-0001", *signatures]:
            assert secret not in text
    assert "CANARY" not in repr(TbaCredentials(*secrets))


# --- sell-through: units sold per item from SuiteQL sales lines, for low stock -------------------


class _Lines:
    """An ``ItemCatalog`` over a few items with their transaction lines."""

    def __init__(self, items: list[Any]) -> None:
        self.items = sorted(items, key=lambda x: x.item_id)

    def items_after(self, item_id: int) -> Any:
        return (x for x in self.items if x.item_id > item_id)

    def count_after(self, item_id: int, keep: Any) -> int:
        return sum(1 for x in self.items_after(item_id) if keep(x))


def _seller(item_id: int, *lines: Any, stock: Any = (("1", 4, 5), ("3", 9, 9)), **kw: Any) -> Any:
    from tools.sandbox.emulators.netsuite import CatalogItem

    return CatalogItem(item_id, f"ST-{item_id}", stock, lines=tuple(lines), **kw)


def _line(kind: str, day: str, quantity: int, affecting: bool = True) -> Any:
    from datetime import date

    from tools.sandbox.emulators.netsuite import CatalogLine

    return CatalogLine(kind, date.fromisoformat(day), quantity, affecting)


def _seller_adapter(emulator: NetSuiteEmulator, **config: Any) -> NetSuiteErp:
    return NetSuiteErp(
        NetSuiteConfig(account_id="1234567", timezone="America/Los_Angeles", **config),
        transport=emulator,
        environ=sandbox_environ(),
        now=lambda: NOW,  # 2026-11-19 23:00 in Los Angeles
    )


def test_the_sell_through_statement_in_full() -> None:
    from datetime import date

    from tools.erp.netsuite_queries import sell_through_query

    assert sell_through_query(4417, date(2026, 10, 22), ["2", "1"]) == (
        "SELECT item.id, item.itemid, sold.units AS sold, SUM(iil.quantityavailable) AS available"
        " FROM (SELECT tl.item AS item, -SUM(tl.quantity) AS units FROM transactionline tl"
        " JOIN transaction t ON t.id = tl.transaction WHERE tl.item > 4417"
        " AND tl.isinventoryaffecting = 'T' AND t.type IN ('CustInvc', 'CashSale')"
        " AND t.trandate >= TO_DATE('2026-10-22', 'YYYY-MM-DD') GROUP BY tl.item) sold"
        " JOIN item ON item.id = sold.item LEFT OUTER JOIN inventoryitemlocations iil"
        " ON iil.item = item.id AND iil.location IN (1, 2)"
        " WHERE item.isinactive = 'F' AND item.itemtype IN ('InvtPart', 'Assembly')"
        " GROUP BY item.id, item.itemid, sold.units ORDER BY item.id"
    )


async def test_sell_through_sums_sales_lines_per_item_in_the_window() -> None:
    from tools.erp.netsuite_queries import sell_through_query
    from tools.protocols import SellThroughSource

    catalog = _Lines(
        [
            _seller(
                10,
                _line("CashSale", "2026-11-19", -3),
                _line("CustInvc", "2026-10-22", -5),  # the window's first day (28 days back)
                _line("CustInvc", "2026-10-21", -50),  # before the window
                _line("CustCred", "2026-11-18", 2),  # a return: not a sale
                _line("SalesOrd", "2026-11-18", -7),  # an order: not a sale line here
                _line("CustInvc", "2026-11-18", -40, affecting=False),  # billed, not shipped
            ),
            _seller(11, _line("CustInvc", "2026-11-01", -1), _line("CustInvc", "2026-11-02", -1)),
            _seller(12, _line("ItemRcpt", "2026-11-01", 30)),  # no sales: left out
            _seller(13, _line("CashSale", "2026-11-10", -6), inactive=True),  # inactive: out
            _seller(14, _line("CashSale", "2026-11-10", -2), stock=()),  # stocked nowhere
        ]
    )
    emulator = NetSuiteEmulator([], catalog=catalog)
    adapter = _seller_adapter(emulator)
    assert isinstance(adapter, SellThroughSource)
    rows = [r async for r in adapter.sell_through(days=28, locations=["1"])]

    assert [(r.sku, r.sold, r.available, r.days) for r in rows] == [
        ("ST-10", 8, 4, 28.0),
        ("ST-11", 2, 4, 28.0),
        ("ST-14", 2, 0, 28.0),
    ]
    from datetime import date

    assert emulator.queries == [sell_through_query(0, date(2026, 10, 22), ["1"])]
    every = [r async for r in adapter.sell_through(days=28)]
    assert [r.available for r in every] == [13, 13, 0]  # every location


async def test_sell_through_pages_are_keyed_on_the_last_item_id() -> None:
    from datetime import date

    from tools.erp.netsuite_queries import sell_through_query

    sale = _line("CashSale", "2026-11-15", -4)
    ids = [3, 4, 5, 90, 91, 700, 701, 702, 9_000]
    catalog = _Lines([_seller(i, sale) for i in ids] + [_seller(6), _seller(95)])
    emulator = NetSuiteEmulator([], catalog=catalog)
    adapter = _seller_adapter(emulator, page_size=3, sales_types=["CashSale"])
    rows = [r async for r in adapter.sell_through(days=7)]

    assert [r.sku for r in rows] == [f"ST-{i}" for i in ids]
    since = date(2026, 11, 12)
    assert emulator.queries == [
        sell_through_query(after, since, None, ("CashSale",)) for after in (0, 5, 700)
    ]
    assert all(r.url.params["offset"] == "0" for r in emulator.requests)


def test_sales_types_are_plain_type_codes() -> None:
    with pytest.raises(ValidationError):
        NetSuiteConfig(account_id="1", sales_types=["CustInvc') OR 1=1 --"])
    with pytest.raises(ValidationError):
        NetSuiteConfig(account_id="1", sales_types=[])


async def test_the_snapshot_emulator_serves_sale_transactions_as_sales_lines() -> None:
    snap = snapshot()
    emulator = NetSuiteEmulator(snap)
    rows = [r async for r in _seller_adapter(emulator).sell_through(days=28)]
    sold = sum(
        -t.quantity
        for t in snap.transactions
        if t.kind == "sale" and t.at >= NOW - timedelta(days=29)
    )
    assert [(r.sku, r.sold) for r in rows] == ([(SKU, sold)] if sold else [])
