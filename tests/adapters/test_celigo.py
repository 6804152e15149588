"""Celigo integrator.io: contract tests on Celigo's own examples, the scenario library over the
emulator, pagination, every fault kind, and a credential canary."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.checks import CHECKS
from tests.factories import facts
from tools.errors import AdapterError
from tools.middleware.celigo import (
    DEFAULT_TOKEN_ENV,
    EU_BASE_URL,
    JOBS_PAGE,
    LEAK_RATE,
    MAX_LOG_RUNS,
    MAX_PAGES,
    PAGE_LIMIT,
    TRIAGE_JOB_PAGES,
    CeligoMiddleware,
)
from tools.middleware.celigo_config import FlowMapping
from tools.middleware.celigo_facts import (
    _parents,
    change_kind,
    error_entry,
    log_sort_key,
    parse_flow,
    sku_mapping_from,
)
from tools.middleware.celigo_wire import (
    cron_from_interval,
    error_side,
    flow_steps,
    interval_from_cron,
    parse_error,
    parse_job,
    parse_time,
)
from tools.models import (
    ChangeEvent,
    Flow,
    FlowHealth,
    LocationMapping,
    MiddlewareLogEntry,
    MiddlewareSnapshot,
    SkuMapping,
    Source,
)
from tools.protocols import MiddlewareAdapter
from tools.retry import RetryPolicy, retry_after_spread
from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for
from tools.sandbox.emulators.faults import Faults, Scripted
from tools.sandbox.scenario import Scenario, load_library

from .rounds import LockStep

SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "celigo"
TOKEN_ENV = "CELIGO_TEST_TOKEN"
POLICY = RetryPolicy(max_attempts=3, total_seconds=60.0, base_delay=0.1, max_delay=1.0)


def _spec(name: str) -> Any:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"Celigo specs not found at {SPECS} (the shared/ folder beside the repo)")
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if name.endswith(".yml") else json.loads(text)


class Sleeps:
    """A sleep that remembers what it was asked to wait and moves its own clock (``clock``)
    on by as much; no real time passes."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _adapter(
    emulator: CeligoEmulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    sleep: Sleeps | None = None,
    retry: RetryPolicy = POLICY,
    retention_days: float = 30.0,
    page_limit: int = PAGE_LIMIT,
    max_pages: int = MAX_PAGES,
    **limits: int,
) -> CeligoMiddleware:
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    state = emulator.state
    sleep = sleep or Sleeps()
    return CeligoMiddleware(
        flow_mappings_for(state),
        token_env=TOKEN_ENV,
        transport=emulator,
        retry=retry,
        sleep=sleep,
        monotonic=sleep.clock,
        retention_days=retention_days,
        clock=lambda: state.read_at,
        page_limit=page_limit,
        max_pages=max_pages,
        **limits,
    )


def _library() -> list[Scenario]:
    return [s for s in load_library().values() if isinstance(s.middleware, MiddlewareSnapshot)]


def _scenario(sku: str) -> tuple[Scenario, MiddlewareSnapshot]:
    scenario = load_library()[sku]
    assert isinstance(scenario.middleware, MiddlewareSnapshot)
    return scenario, scenario.middleware


def _first_with(predicate: Callable[[MiddlewareSnapshot], bool]) -> tuple[str, MiddlewareSnapshot]:
    for scenario in _library():
        assert isinstance(scenario.middleware, MiddlewareSnapshot)
        if predicate(scenario.middleware):
            return scenario.sku, scenario.middleware
    pytest.skip("no library scenario has the state this test needs")


def _since(state: MiddlewareSnapshot) -> datetime:
    return state.read_at - timedelta(hours=72)


# --- (a) contract: Celigo's own examples --------------------------------------------------------

INVENTORY = FlowMapping(hop="storefront_to_erp", listens_for_raw=["inventory_levels/update"])


def test_simple_flow_example_parses_with_its_legacy_step_ids() -> None:
    doc = _spec("examples/flow.example1.json")
    assert flow_steps(doc).exports == ("55ea776bb751843c37b7ac6ab0",)
    assert flow_steps(doc).imports == ("55ea78c546cf5825294aca0b",)
    flow = parse_flow(doc, INVENTORY)
    assert (flow.id, flow.name) == ("123ab456c789de1011fg12h13i", "Send GitHub Events to Slack")
    assert (flow.status, flow.status_reason, flow.status_since) == ("active", None, None)
    assert (flow.trigger, flow.interval_minutes) == ("batch", None)  # no schedule, export unseen
    assert flow.listens_for == ["inventory_update"]  # from carries: Celigo has no topic list
    assert flow.listens_for_raw == ["inventory_levels/update"]
    assert flow.target_endpoint is None and flow.last_run_at is None


def test_orchestrated_flow_example_reads_schedule_and_steps() -> None:
    doc = _spec("examples/flow.example2.json")
    steps = flow_steps(doc)
    assert steps.exports == ("55ea776bb751843c37b7ac6ab0",)  # generators and lookups, deduplicated
    assert steps.imports == ("55ea776bb751843c37b7ac6ab0",)
    flow = parse_flow(doc, INVENTORY)
    assert flow.status == "active"
    assert flow.interval_minutes == 24 * 60  # "? 0 2 ? * *": daily at 02:00


def test_disabled_flow_example_is_disabled_since_its_last_edit() -> None:
    doc = _spec("examples/flow.example2.json") | {"disabled": True}
    flow = parse_flow(doc, INVENTORY)
    assert flow.status == "disabled"
    assert flow.status_since == datetime(2017, 8, 19, 17, 4, 54, 5000, tzinfo=UTC)


def test_job_example_parses_counts_and_times() -> None:
    (doc,) = _spec("examples/job.example1.json")
    job = parse_job(doc)
    assert (job.id, job.type, job.status) == ("123ab456c789de1011fg12h13i", "import", "running")
    assert (job.num_error, job.num_success, job.num_ignore) == (0, 1, 0)
    assert job.started_at == datetime(2017, 10, 24, 0, 55, 49, 128000, tzinfo=UTC)
    assert job.ended_at is None


def test_a_child_job_is_never_counted_as_a_run() -> None:
    # job.example1.json is an ``import`` job: a child of a flow run (VERIFIED-2026-12 §1).
    (child,) = _spec("examples/job.example1.json")
    runs = [
        {"_id": "r1", "type": "flow", "createdAt": "2017-10-24T00:50:00.000Z"},
        {"_id": "r2", "type": "retry", "createdAt": "2017-10-24T00:56:00.000Z"},
        {"_id": "r3", "createdAt": "2017-10-24T00:40:00.000Z"},  # a parent without a type
    ]
    assert [j["_id"] for j in _parents([child, *runs])] == ["r2", "r1", "r3"]


def test_job_error_example_parses_and_needs_a_trace_key_to_name_a_sku() -> None:
    (doc,) = _spec("examples/job.example2.json")
    error = parse_error(doc)
    assert (error.code, error.status_code, error.source) == ("422", 422, "integrator.io")
    assert "missing_required_field" in error.message
    assert error.at == datetime(2017, 10, 24, 0, 43, 30, 434000, tzinfo=UTC)
    assert error_entry(error, "f1") is None  # no traceKey: not about any one SKU
    entry = error_entry(parse_error(doc | {"traceKey": "SKU-1"}), "f1")
    assert entry is not None
    assert (entry.sku, entry.stage, entry.status_code) == ("SKU-1", "error", 422)


@pytest.mark.parametrize(
    ("source", "on_import", "side"),
    [
        ("application", True, "destination"),  # the target system refused the record
        ("connection", True, "destination"),
        ("application", False, None),  # the source system failed the export
        ("mapping", True, "connector"),
        ("lookup", True, "connector"),
        ("transformation", False, "connector"),
        ("preSavePage_hook", True, "connector"),
        ("internal", True, "connector"),
        (None, True, None),
    ],
)
def test_who_failed_a_record_comes_from_the_error_source(
    source: str | None, on_import: bool, side: str | None
) -> None:
    assert error_side(source, on_import) == side


def test_verified_error_record_names_record_run_and_refusal() -> None:
    # The step error record of docs.celigo.com "Errors API endpoints" (VERIFIED-2026-12 §2c).
    doc = {
        "occurredAt": "2021-06-15T21:21:30.538Z",
        "source": "application",
        "code": "response_failure",
        "message": "Item record refused",
        "traceKey": "SKU-1|53968",
        "retryDataKey": "r1",
        "errorId": "e1",
        "_flowJobId": "job-1",
        "classification": "missing",
    }
    job = parse_job({"_id": "job-1", "type": "retry", "numSuccess": 499, "numError": 1})
    entry = error_entry(parse_error(doc, "imp-1"), "f1", imports=("imp-1",), jobs={"job-1": job})
    assert entry is not None
    assert (entry.sku, entry.source_id, entry.stage) == ("SKU-1", "53968", "error")
    assert (entry.error_code, entry.error_source, entry.status_code) == (
        "response_failure",
        "destination",
        None,
    )
    assert (entry.job_id, entry.job_records, entry.job_failed) == ("job-1", 500, 1)
    limited = error_entry(parse_error(doc | {"classification": "Rate limit"}, "imp-1"), "f1")
    assert limited is not None and limited.stage == "rate_limited"


# A static lookup as Celigo documents it (import.md, lookups.yml): ``map`` is an object of input →
# output, and ``default`` is used for a value not in the map only when ``allowFailures`` is true.
LOOKUP = {"name": "sku_map", "map": {"SKU-1": "ITEM-1", "SKU-2": ""}, "allowFailures": False}


@pytest.mark.parametrize(
    ("lookup", "sku", "expected"),
    [
        (LOOKUP, "SKU-1", ("ITEM-1", "active")),
        (LOOKUP, "SKU-2", (None, "disabled")),
        (LOOKUP, "SKU-3", (None, "missing")),
        (LOOKUP | {"default": "ITEM-0"}, "SKU-3", (None, "missing")),  # the record fails
        (LOOKUP | {"default": "ITEM-0", "allowFailures": True}, "SKU-3", ("ITEM-0", "overridden")),
        (LOOKUP | {"default": "ITEM-0", "allowFailures": True}, "SKU-1", ("ITEM-1", "active")),
        (LOOKUP | {"default": "", "allowFailures": True}, "SKU-3", (None, "missing")),
    ],
)
def test_static_lookup_default_applies_only_when_failures_are_allowed(
    lookup: dict[str, Any], sku: str, expected: tuple[str | None, str]
) -> None:
    mapping = sku_mapping_from(lookup, sku)
    assert (mapping.erp_item, mapping.status) == expected


def test_emulated_override_is_a_default_on_a_lookup_that_allows_failures() -> None:
    _, state = _first_with(
        lambda s: s.sku_mapping is not None and s.sku_mapping.status == "overridden"
    )
    assert state.sku_mapping is not None
    lookups = [
        lookup
        for doc in CeligoEmulator(state).account.imports
        for lookup in doc.get("lookups", [])
        if lookup["name"] == "sku_map"
    ]
    assert lookups == [
        {
            "name": "sku_map",
            "map": {},
            "allowFailures": True,
            "default": state.sku_mapping.erp_item,
        }
    ]


def _check_schema(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The parts of the fragment that resolve: its required list and its own properties."""
    flow = schema["Flow"]
    problems = [f"missing {key}" for key in flow["required"] if key not in doc]
    # Types of required fields defined in the unresolved base.yml, as Celigo documents them.
    known = {"_id": "string", "name": "string", "disabled": "boolean", "logging": "object"}
    known |= {"createdAt": "date-time", "lastModified": "date-time"}
    for part in flow["allOf"]:
        for key, spec in part.get("properties", {}).items():
            known[key] = spec.get("format") if spec.get("format") == "date-time" else spec["type"]
    for key, kind in known.items():
        if key in doc and not _is(doc[key], kind):
            problems.append(f"{key} is not a {kind}: {doc[key]!r}")
    return problems


def _is(value: Any, kind: str) -> bool:
    if kind == "date-time":
        return isinstance(value, str) and parse_time(value) is not None
    return isinstance(value, {"string": str, "boolean": bool, "object": dict}[kind])


@pytest.mark.parametrize("scenario", _library(), ids=lambda s: s.sku)
def test_emulated_flows_match_the_flow_response_schema(scenario: Scenario) -> None:
    schema = _spec("flow-response.schema-fragment.yml")
    assert isinstance(scenario.middleware, MiddlewareSnapshot)
    for doc in CeligoEmulator(scenario.middleware).account.flows:
        assert _check_schema(doc, schema) == [], doc["_id"]


def test_schema_check_catches_a_flow_without_disabled() -> None:
    schema = _spec("flow-response.schema-fragment.yml")
    doc = _spec("examples/flow.example1.json")  # a 2017 sample: it predates "logging"
    assert "missing logging" in _check_schema(doc, schema)
    assert "missing disabled" in _check_schema(
        {k: v for k, v in doc.items() if k != "disabled"}, schema
    )


# --- pure conventions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("? */15 * * * *", 15),
        ("? 0,15,30,45 * * * *", 15),
        ("? 5 * * * *", 60),
        ("? 0 */6 * * *", 360),
        ("? 0 2 ? * *", 1440),
        ("? 0 2 ? * 1", None),  # weekly
        ("? 0 2,5 * * *", None),  # uneven
        ("nonsense", None),
    ],
)
def test_interval_from_cron(cron: str, minutes: int | None) -> None:
    assert interval_from_cron(cron) == minutes


@pytest.mark.parametrize("minutes", [1, 5, 15, 30, 60, 120, 360, 720, 1440])
def test_cron_round_trips(minutes: int) -> None:
    assert interval_from_cron(cron_from_interval(minutes)) == minutes


@pytest.mark.parametrize(
    ("resource", "action", "path", "kind"),
    [
        ("connection", "update", "netsuite.tokenSecret", "credential_rotation"),
        ("connection", "update", "http.auth.token.token", "credential_rotation"),
        ("connection", "update", "http.auth.basic.password", "password_reset"),
        ("connection", "update", "http.auth.token.refreshToken", "key_refresh"),
        ("connection", "update", "http._httpConnectorVersionId", "app_upgrade"),
        ("connection", "update", "http.baseURI", "config_change"),
        ("integration", "update", "version", "app_upgrade"),
        ("integration", "upgrade", "", "app_upgrade"),
        ("flow", "update", "disabled", "config_change"),
        ("import", "update", "mapping.fields", "config_change"),
    ],
)
def test_audit_entry_kinds(resource: str, action: str, path: str, kind: str) -> None:
    assert change_kind(resource, action, path) == kind


# --- (b) the scenario library over the emulator ----------------------------------------------


def _flow_view(flow: dict[str, Any]) -> dict[str, Any]:
    if flow["status"] == "active":
        # Celigo has no reason or start time for a flow that runs.
        flow["status_reason"] = flow["status_since"] = None
    if flow["status"] == "disabled":
        # Celigo records no reason for switching a flow off; the adapter says so in fixed words.
        flow["status_reason"] = None
    if flow["status"] in ("suspended", "error") and flow["status_reason"] is None:
        # With no error to quote, the adapter names the offline connection or the failed run.
        flow["status_reason"] = "<adapter's words>"
    if cron_from_interval(flow["interval_minutes"]) is None:
        flow["interval_minutes"] = None  # a period cron cannot express is not in Celigo
    return flow


def _entry_view(entry: MiddlewareLogEntry) -> dict[str, Any]:
    view = entry.model_dump()
    view["quantity"] = None  # in the record body, not in the log metadata: not read
    if view["stage"] == "dropped":
        view["stage"] = "filtered"  # Celigo drops nothing silently: a skipped record was filtered
    if view["stage"] == "filtered":  # a filter result is a log row: no error code, no source
        view["error_code"] = view["error_source"] = None
    if view["stage"] in ("error", "rate_limited"):
        # a 429 is a rate-limit hit unless a text code (e.g. retries exhausted) says otherwise
        text_code = view["error_code"] is not None and not view["error_code"].isdigit()
        if view["stage"] == "rate_limited" or (view["status_code"] == 429 and not text_code):
            view["stage"], view["status_code"] = "rate_limited", view["status_code"] or 429
        if view["error_code"] is not None and view["status_code"] is not None:
            view["status_code"] = None  # a text code takes the place of the HTTP status
        elif view["error_code"] is None and view["status_code"] is not None:
            view["error_code"] = str(view["status_code"])  # Celigo's code is the status, as text
        # Every error has a source in Celigo: the target's refusal unless Celigo's own step.
        view["error_source"] = view["error_source"] or "destination"
    return view


_JOB_FIELDS = ("job_id", "job_records", "job_failed")


def _log_view(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries read, with the run Celigo filed them under left out where the state named
    none (the emulator makes one run per record up)."""
    for entry, want in zip(got, expected, strict=False):
        if want["job_id"] is None:
            assert entry["job_id"] is not None and entry["job_records"] is not None
            entry.update(dict.fromkeys(_JOB_FIELDS))
        for counts in ("job_records", "job_failed"):  # a named run's counts are read anyway
            if want[counts] is None:
                entry[counts] = None
    return got


def _expected(scenario: Scenario, state: MiddlewareSnapshot, since: datetime) -> dict[str, Any]:
    window = max(since, state.log_window_start or since)
    flow_ids = {f.id for f in state.flows}
    log = sorted(
        (
            e
            for e in state.log
            if e.sku == scenario.sku and e.at >= window and e.flow_id in flow_ids
        ),
        key=log_sort_key,
    )
    mapping = state.sku_mapping.model_dump() if state.sku_mapping else None
    if mapping is not None:
        mapping["note"] = None  # a lookup row has no room for a note
        if mapping["status"] == "active" and not mapping["erp_item"]:
            mapping["status"] = "disabled"
        if mapping["status"] == "disabled":
            mapping["erp_item"] = None  # a disabled row is an empty value
        if mapping["status"] == "overridden" and not mapping["erp_item"]:
            mapping["status"] = "missing"
    changes_from = min(since, state.read_at - timedelta(hours=72))
    return {
        "flows": [_flow_view(f.model_dump()) for f in state.flows],
        "log": [_entry_view(e) for e in log],
        "log_window_start": state.log_window_start if window > since else None,
        "sku_mapping": mapping,
        "location_mappings": sorted(
            (m.model_dump() for m in state.location_mappings),
            key=lambda m: m["kind"] != "location",
        ),
        # description: Celigo's audit log has no free text; the adapter describes the field.
        "changes": [
            c.model_dump(exclude={"description"})
            for c in sorted(state.changes, key=lambda c: c.at)
            if c.at >= changes_from
        ],
    }


def _got(snapshot: MiddlewareSnapshot, expected: dict[str, Any]) -> dict[str, Any]:
    flows = [f.model_dump() for f in snapshot.flows]
    for flow, want in zip(flows, expected["flows"], strict=False):
        if want["status_reason"] == "<adapter's words>":
            assert flow["status_reason"], flow["id"]
            flow["status_reason"] = want["status_reason"]
        if want["status"] in ("suspended", "error") and want["status_since"] is None:
            flow["status_since"] = None  # Celigo timestamps every error it quotes
        if want["status"] == "disabled":
            flow["status_reason"] = None
    return {
        "flows": flows,
        "log": _log_view([e.model_dump() for e in snapshot.log], expected["log"]),
        "log_window_start": snapshot.log_window_start,
        "sku_mapping": snapshot.sku_mapping.model_dump() if snapshot.sku_mapping else None,
        "location_mappings": [m.model_dump() for m in snapshot.location_mappings],
        "changes": [c.model_dump(exclude={"description"}) for c in snapshot.changes],
    }


@pytest.mark.parametrize("scenario", _library(), ids=lambda s: s.sku)
async def test_library_round_trips_through_celigo(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every readable middleware state, whichever connector the scenario names: what the engine
    # reads must survive being rendered as a Celigo account and read back (vendor is "celigo").
    state = scenario.middleware
    assert isinstance(state, MiddlewareSnapshot)
    since = _since(state)
    retention = 30.0
    if state.log_window_start is not None:
        retention = (state.read_at - state.log_window_start) / timedelta(days=1)
    emulator = CeligoEmulator(state)
    adapter = _adapter(emulator, monkeypatch, retention_days=retention)
    snapshot = await adapter.read_activity(scenario.sku, since)
    expected = _expected(scenario, state, since)
    assert _got(snapshot, expected) == expected
    assert snapshot.vendor == "celigo" and snapshot.read_at == state.read_at
    assert snapshot.source.system == "celigo" and snapshot.source.endpoint == "GET /v1/flows"
    assert snapshot.raw is not None and len(snapshot.raw["flows"]) == len(state.flows)


def test_adapter_satisfies_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    _, state = _scenario("SKU-3101")
    assert isinstance(_adapter(CeligoEmulator(state), monkeypatch), MiddlewareAdapter)


async def test_suspended_flow_names_the_offline_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state)
    emulator.account.errors.clear()  # no connection error to quote
    snapshot = await _adapter(emulator, monkeypatch).read_activity(scenario.sku, _since(state))
    flow = next(f for f in snapshot.flows if f.status != "active")
    assert flow.status == "suspended"
    assert flow.status_reason == f"connection {flow.name} · target is offline"


async def test_runs_without_execution_rows_shorten_the_log_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sku, state = _first_with(lambda s: any(e.stage == "delivered" for e in s.log))
    emulator = CeligoEmulator(state)
    job = next(j for j in emulator.account.jobs if j["numSuccess"] > 0)
    emulator.account.logs[job["_id"]] = []  # execution logging was not armed for that run
    snapshot = await _adapter(emulator, monkeypatch).read_activity(sku, _since(state))
    assert snapshot.log_window_start == datetime.fromisoformat(job["endedAt"])


async def test_a_configured_flow_missing_from_the_account_is_not_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state)
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    adapter = CeligoMiddleware(
        {"no-such-flow": INVENTORY}, token_env=TOKEN_ENV, transport=emulator, sleep=Sleeps()
    )
    with pytest.raises(AdapterError) as caught:
        await adapter.read_activity(scenario.sku, _since(state))
    assert caught.value.kind == "not_found" and "no-such-flow" in caught.value.message


def test_from_settings_reads_flows_region_and_env_var_name() -> None:
    adapter = CeligoMiddleware.from_settings(
        credentials={"api_token": "MY_CELIGO_TOKEN"},
        options={
            "region": "eu",
            "flows": {"f1": {"hop": "storefront_to_erp"}},
            "retention_days": 7,
        },
    )
    assert adapter.token_env == "MY_CELIGO_TOKEN"
    assert adapter.flows["f1"].hop == "storefront_to_erp"
    assert adapter.retention == timedelta(days=7)
    assert str(adapter._client._http.base_url) == EU_BASE_URL + "/"
    with pytest.raises(ValueError, match=r"options\.flows\.f1\.hop"):
        CeligoMiddleware.from_settings(options={"flows": {"f1": {"hop": "sideways"}}})


# --- pagination -------------------------------------------------------------------------------


T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def _busy() -> tuple[Scenario, MiddlewareSnapshot]:
    """A state with every flow status, trigger, log stage, mapping and change kind, and more
    of each than one page holds."""
    h = timedelta(hours=1)
    flows = [
        Flow(
            id="f-ev",
            name="Inventory in",
            hop="storefront_to_erp",
            trigger="event",
            listens_for_raw=["inventory_levels/update"],
            last_run_at=T0 - h,
            target_endpoint="https://1.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=9",
        ),
        Flow(
            id="f-poll",
            name="Amazon out",
            hop="storefront_to_marketplace",
            channel="amazon",
            trigger="poll",
            interval_minutes=15,
            status="error",
            status_reason="Feed rejected",
            status_since=T0 - 2 * h,
        ),
        Flow(
            id="f-batch",
            name="Nightly",
            hop="erp_to_storefront",
            trigger="batch",
            interval_minutes=1440,
            status="disabled",
            status_since=T0 - 40 * h,
        ),
        Flow(
            id="f-off",
            name="Walmart out",
            hop="storefront_to_marketplace",
            channel="walmart",
            status="suspended",
            status_reason="401 from Walmart",
            status_since=T0 - 3 * h,
        ),
    ]
    log = [
        MiddlewareLogEntry(
            at=T0 - 5 * h, flow_id="f-ev", sku="SKU-B", stage="received", source_id="e1"
        ),
        MiddlewareLogEntry(
            at=T0 - 5 * h,
            flow_id="f-ev",
            sku="SKU-B",
            stage="delivered",
            status_code=200,
            source_id="e1",
            message="ok",
        ),
        MiddlewareLogEntry(
            at=T0 - 4 * h, flow_id="f-ev", sku="SKU-B", stage="received", source_id="e2"
        ),
        MiddlewareLogEntry(
            at=T0 - 4 * h,
            flow_id="f-ev",
            sku="SKU-B",
            stage="filtered",
            source_id="e2",
            message="qty < 0",
        ),
        MiddlewareLogEntry(
            at=T0 - 3 * h,
            flow_id="f-ev",
            sku="SKU-B",
            stage="error",
            status_code=403,
            message="no permission",
        ),
        MiddlewareLogEntry(
            at=T0 - 2 * h,
            flow_id="f-ev",
            sku="SKU-B",
            stage="error",
            status_code=400,
            message="bad item",
        ),
        MiddlewareLogEntry(
            at=T0 - 1 * h, flow_id="f-ev", sku="SKU-B", stage="rate_limited", message="slow down"
        ),
        # One run of 500 records, one of which (this SKU's) the ERP refused; and a record that
        # Celigo's own mapping failed.
        *(
            MiddlewareLogEntry(
                at=T0 - 6 * h,
                flow_id="f-ev",
                sku="SKU-B",
                source_id="e3",
                job_id="run-77",
                job_records=500,
                job_failed=1,
                **fields,
            )
            for fields in (
                {"stage": "received"},
                {
                    "stage": "error",
                    "error_code": "INSUFFICIENT_PERMISSION",
                    "error_source": "destination",
                    "message": "You need the 'Adjust Inventory' permission",
                },
            )
        ),
        # The refused record went through on a retry.
        MiddlewareLogEntry(
            at=T0 - h / 2,
            flow_id="f-ev",
            sku="SKU-B",
            stage="delivered",
            source_id="e3",
            status_code=200,
        ),
        MiddlewareLogEntry(
            at=T0 - 7 * h,
            flow_id="f-ev",
            sku="SKU-B",
            stage="error",
            source_id="e4",
            error_code="lookup_failed",
            error_source="connector",
            message="No item mapping found for SKU-B",
        ),
        MiddlewareLogEntry(
            at=T0 - 1 * h, flow_id="f-ev", sku="SKU-OTHER", stage="received", source_id="x"
        ),
        MiddlewareLogEntry(
            at=T0 - 100 * h, flow_id="f-ev", sku="SKU-B", stage="received", source_id="old"
        ),
    ]
    changes = [
        ChangeEvent(at=T0 - k * h, system=system, kind=kind, description="-", actor=actor)
        for k, (system, kind, actor) in enumerate(
            [
                ("netsuite", "credential_rotation", "secops"),
                ("shopify", "password_reset", None),
                ("amazon", "key_refresh", "ops"),
                ("shopify", "app_upgrade", "ops"),
                ("celigo", "app_upgrade", None),
                ("celigo", "config_change", "dev"),
                ("walmart", "config_change", "dev"),
            ],
            start=1,
        )
    ]
    state = MiddlewareSnapshot(
        source=Source(system="celigo", endpoint="test"),
        read_at=T0,
        vendor="celigo",
        flows=flows,
        log=log,
        sku_mapping=SkuMapping(storefront_sku="SKU-B", erp_item="ITEM-9", status="overridden"),
        location_mappings=[
            LocationMapping(storefront_location_id="L1", erp_location_id="W1"),
            LocationMapping(storefront_location_id="L2", erp_location_id="W2"),
            LocationMapping(storefront_location_id="S1", erp_location_id="W1", kind="msi_source"),
        ],
        changes=changes,
    )
    scenario = _scenario("SKU-3101")[0].model_copy(update={"sku": "SKU-B", "middleware": state})
    return scenario, state


async def test_busy_account_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario, state = _busy()
    emulator = CeligoEmulator(state)
    # More runs than a triage reads logs of: read them all here, to check every shape.
    adapter = _adapter(emulator, monkeypatch, max_log_runs=MAX_PAGES)
    snapshot = await adapter.read_activity("SKU-B", _since(state))
    expected = _expected(scenario, state, _since(state))
    assert _got(snapshot, expected) == expected
    # The refusal is keyed on Celigo's error source, with the run's counts and the record's id.
    refused = next(e for e in snapshot.log if e.error_code == "INSUFFICIENT_PERMISSION")
    assert (refused.error_source, refused.source_id, refused.status_code) == (
        "destination",
        "e3",
        None,
    )
    assert (refused.job_id, refused.job_records, refused.job_failed) == ("run-77", 500, 1)
    # Its retry delivered it: Celigo resolved the error, and the retry run is a parent job the
    # runs listing returns (no ``type=flow`` filter leaves it out).
    retried = next(e for e in snapshot.log if e.stage == "delivered" and e.source_id == "e3")
    retry_run = next(j for j in emulator.account.jobs if j["_id"] == retried.job_id)
    assert retry_run["type"] == "retry"
    resolved = [e for errors in emulator.account.resolved.values() for e in errors]
    assert [e["traceKey"] for e in resolved] == ["SKU-B|e3"]
    assert any(c.startswith("GET /v1/flows/f-ev/imp-f-ev/resolved?") for c in emulator.calls)
    wire = next(
        e
        for errors in emulator.account.errors.values()
        for e in errors
        if e.get("code") == "lookup_failed"
    )
    assert (wire["source"], wire["traceKey"]) == ("mapping", "SKU-B|e4")
    mapping = next(e for e in snapshot.log if e.error_code == "lookup_failed")
    assert (mapping.error_source, mapping.source_id) == ("connector", "e4")
    assert [f.status for f in snapshot.flows] == ["active", "error", "disabled", "suspended"]
    assert {c.kind for c in snapshot.changes} == {
        "credential_rotation",
        "password_reset",
        "key_refresh",
        "app_upgrade",
        "config_change",
    }


async def _lockstep_read(
    monkeypatch: pytest.MonkeyPatch, emulator: CeligoEmulator
) -> tuple[MiddlewareSnapshot, LockStep]:
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    rounds = LockStep(emulator)
    state = emulator.state
    adapter = CeligoMiddleware(
        flow_mappings_for(state),
        token_env=TOKEN_ENV,
        transport=rounds,
        retry=POLICY,
        sleep=Sleeps(),
        clock=lambda: state.read_at,
        error_pages=MAX_PAGES,  # the one-item pages below are all read
    )
    return await adapter.read_activity("SKU-B", _since(state)), rounds


async def test_only_requests_that_need_an_answer_wait_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Flow ids come from the config, so every flow's latest job, runs and error summary go out
    # with the account's lists; the execution logs (need a job id), the open step errors (need
    # the summary) and the resolved errors (need the flow's steps) follow in one more round.
    _, state = _busy()
    whole = CeligoEmulator(state, page_size=1000, error_page_size=1000)
    snapshot, rounds = await _lockstep_read(monkeypatch, whole)
    first = sorted(r.url.path.removeprefix("/v1/") for r in rounds.rounds[0])
    flows = [f.id for f in state.flows]
    per_flow = [f"flows/{f}/{end}" for f in flows for end in ("errors", "jobs/latest")]
    lists = ["audit", "connections", "exports", "flows", "imports"]
    assert first == sorted([*lists, *per_flow, *["jobs"] * len(flows)])
    later = [r.url.path for r in rounds.rounds[1]]
    assert any(p.endswith("/logs") for p in later) and any(p.endswith("/resolved") for p in later)
    assert any(p.endswith("/errors") and p.count("/") == 5 for p in later)  # a step's open errors
    assert len(rounds.rounds) == 2
    # A page waits for the one before it, and nothing else does: at one item per page the read
    # costs as many round trips as its longest list has pages (here the connections, which
    # nothing waits on; the flows, runs and errors, and what follows them, are shorter).
    paged, rounds = await _lockstep_read(
        monkeypatch, CeligoEmulator(state, page_size=1, error_page_size=1)
    )
    assert paged.model_dump(exclude={"raw"}) == snapshot.model_dump(exclude={"raw"})
    sent = itertools.chain(*rounds.rounds)
    pages = Counter((r.url.path, r.url.params.get("_flowId")) for r in sent)  # per list
    assert len(rounds.rounds) == pages["/v1/connections", None] == max(pages.values())


async def test_follows_link_and_next_page_url_one_item_per_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, state = _busy()
    whole = await _adapter(CeligoEmulator(state), monkeypatch).read_activity("SKU-B", _since(state))
    emulator = CeligoEmulator(state, page_size=1, error_page_size=1)
    adapter = _adapter(emulator, monkeypatch, error_pages=MAX_PAGES)
    paged = await adapter.read_activity("SKU-B", _since(state))
    assert paged.model_dump(exclude={"raw"}) == whole.model_dump(exclude={"raw"})
    for listed in ("flows", "exports", "imports", "connections", "audit"):
        assert any(c.startswith(f"GET /v1/{listed}?") and "skip=1" in c for c in emulator.calls)
    assert any("/logs?" in c and "skip=1" in c for c in emulator.calls)
    assert any("/errors?" in c and "after=1" in c for c in emulator.calls)


async def test_emulator_pages_with_a_link_header() -> None:
    _, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state, page_size=1)
    async with httpx.AsyncClient(
        transport=emulator, base_url="https://api.integrator.io/v1/"
    ) as http:
        headers = {"Authorization": f"Bearer {emulator.token}"}
        first = await http.get("flows", headers=headers)
        assert len(first.json()) == 1
        assert (
            first.headers["Link"]
            == '<https://api.integrator.io/v1/flows?skip=1&limit=1>; rel="next"'
        )
        last = await http.get("flows", params={"skip": str(len(state.flows) - 1)}, headers=headers)
        assert "Link" not in last.headers


def test_next_links_never_leave_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    _, state = _scenario("SKU-3101")
    adapter = _adapter(CeligoEmulator(state), monkeypatch)
    link = '<https://elsewhere.example/v1/flows?after=2>; rel="next"'
    assert adapter._next(link) == ("flows", {"after": "2"})
    assert adapter._next('<https://api.integrator.io/v1/flows?after=2>; rel="prev"') is None


def _audit_state(config_changes: int) -> MiddlewareSnapshot:
    """SKU-3101 with ``config_changes`` recent integration edits and, older than all of them
    (so last in Celigo's newest-first audit list), the NetSuite credential rotation that is the
    evidence for L3.recent_change."""
    _, state = _scenario("SKU-3101")
    h = timedelta(hours=1)
    edits = [
        ChangeEvent(
            at=state.read_at - k * h, system="celigo", kind="config_change", description="-"
        )
        for k in range(1, config_changes + 1)
    ]
    rotation = ChangeEvent(
        at=state.read_at - 30 * h,
        system="netsuite",
        kind="credential_rotation",
        description="-",
        actor="secops",
    )
    return state.model_copy(update={"changes": [*edits, rotation]})


def _audit_calls(emulator: CeligoEmulator) -> list[str]:
    return [c for c in emulator.calls if c.startswith("GET /v1/audit")]


async def test_audit_changes_over_three_pages_are_all_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _audit_state(config_changes=6)  # 7 entries: pages of 3, 3 and 1
    emulator = CeligoEmulator(state, page_size=3)
    adapter = _adapter(emulator, monkeypatch, page_limit=3)
    snapshot = await adapter.read_activity("SKU-3101", _since(state))
    kinds = [c.kind for c in snapshot.changes]
    assert kinds.count("config_change") == 6 and "credential_rotation" in kinds
    assert len(snapshot.raw["audit"]) == 7
    calls = _audit_calls(emulator)
    assert len(calls) == 3 and all("limit=3" in c for c in calls)
    assert ["skip=3" in calls[1], "skip=6" in calls[2]] == [True, True]


async def test_a_full_last_page_ends_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # 6 entries at 3 a page: the second page carries no Link, and that ends the list.
    state = _audit_state(config_changes=5)
    emulator = CeligoEmulator(state, page_size=3)
    snapshot = await _adapter(emulator, monkeypatch, page_limit=3).read_activity(
        "SKU-3101", _since(state)
    )
    assert len(snapshot.raw["audit"]) == 6
    assert "credential_rotation" in [c.kind for c in snapshot.changes]
    assert len(_audit_calls(emulator)) == 2


async def test_the_documented_page_size_reads_the_audit_in_one_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _audit_state(config_changes=6)
    emulator = CeligoEmulator(state, page_size=1000)
    snapshot = await _adapter(emulator, monkeypatch).read_activity("SKU-3101", _since(state))
    assert "credential_rotation" in [c.kind for c in snapshot.changes]
    assert len(calls := _audit_calls(emulator)) == 1 and f"limit={PAGE_LIMIT}" in calls[0]


async def test_a_list_past_the_page_cap_is_an_error_not_a_short_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _audit_state(config_changes=6)  # 3 pages; the cap is 2
    emulator = CeligoEmulator(state, page_size=3)
    adapter = _adapter(emulator, monkeypatch, page_limit=3, max_pages=2)
    with pytest.raises(AdapterError) as caught:
        await adapter.read_activity("SKU-3101", _since(state))
    assert (caught.value.kind, caught.value.endpoint) == ("bad_payload", "GET /audit")
    assert "more than 2 pages" in caught.value.message
    assert len(_audit_calls(emulator)) == 2  # it stops at the cap: no third request


def _week_of_runs(runs: int) -> tuple[MiddlewareSnapshot, FlowHealth]:
    _, state = _scenario("SKU-3101")
    flow, week_ago = state.flows[0], state.read_at - timedelta(days=7)
    health = FlowHealth(
        source=Source(system="celigo", endpoint="test"),
        read_at=state.read_at,
        flow_id=flow.id,
        name=flow.name,
        hop=flow.hop,
        window_start=week_ago,
        runs=runs,
        records_ok=runs,
    )
    return state, health


def _jobs_calls(emulator: CeligoEmulator, flow_id: str) -> list[httpx.URL]:
    return [
        httpx.URL(c.split(" ", 1)[1])
        for c in emulator.calls
        if c.startswith("GET /v1/jobs?") and flow_id in c
    ]


async def test_runs_page_by_created_at_not_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 runs at 3 a page: each next page asks for the runs up to the last one's createdAt.
    state, health = _week_of_runs(10)
    emulator = CeligoEmulator(state, runs=[health], jobs_page_size=3)
    adapter = _adapter(emulator, monkeypatch, jobs_page=3)
    by_id = {f.flow_id: f for f in await adapter.flow_health(health.window_start)}
    assert (by_id[health.flow_id].runs, by_id[health.flow_id].complete) == (10, True)
    calls = _jobs_calls(emulator, health.flow_id)
    assert "createdAt_lte" not in calls[0].params
    newest_first = sorted(
        (j for j in emulator.account.jobs if j["_flowId"] == health.flow_id),
        key=lambda j: j["createdAt"],
        reverse=True,
    )
    assert calls[1].params["createdAt_lte"] == newest_first[2]["createdAt"]
    for call in calls:
        assert not {"offset", "skip", "limit", "type"} & set(call.params)  # none documented
    # Each next page starts with the boundary run again: 3, then 2 + 2 + 2 new, then a short
    # page of 2 (one new) ends the listing.
    assert len(calls) == 5


async def test_run_counts_past_the_page_cap_are_a_lower_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, health = _week_of_runs(10)
    emulator = CeligoEmulator(state, runs=[health], jobs_page_size=3)
    adapter = _adapter(emulator, monkeypatch, jobs_page=3, max_pages=2)
    by_id = {f.flow_id: f for f in await adapter.flow_health(health.window_start)}
    # 3 runs, then 3 more of which one is the boundary run again: 5, and not complete.
    assert (by_id[health.flow_id].complete, by_id[health.flow_id].runs) == (False, 5)
    assert len(_jobs_calls(emulator, health.flow_id)) == 2


async def test_the_emulator_ignores_offset_on_jobs_as_celigo_does() -> None:
    # The old adapter's fallback (ask for the next ``offset``) gets the same page back forever.
    state, health = _week_of_runs(10)
    emulator = CeligoEmulator(state, runs=[health], jobs_page_size=3)
    async with httpx.AsyncClient(
        transport=emulator, base_url="https://api.integrator.io/v1/"
    ) as http:
        headers = {"Authorization": f"Bearer {emulator.token}"}
        query = {"_flowId": health.flow_id, "limit": "3"}
        first = await http.get("jobs", params=query, headers=headers)
        again = await http.get("jobs", params={**query, "offset": "3"}, headers=headers)
        assert len(first.json()) == 3 and first.json() == again.json()
        assert "Link" not in first.headers


async def test_runs_that_repeat_end_the_listing_instead_of_looping() -> None:
    calls: list[httpx.Request] = []
    run = {"_id": "a", "type": "flow", "createdAt": "2026-11-20T06:00:00.000Z"}

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=[run, run | {"_id": "b"}])  # the same page every time

    adapter = CeligoMiddleware(
        {}, transport=httpx.MockTransport(answer), environ={DEFAULT_TOKEN_ENV: "t"}, jobs_page=2
    )
    jobs, complete = await adapter._jobs("f1", T0 - timedelta(days=1), 10)
    assert ([j["_id"] for j in jobs], complete) == (["a", "b"], False)
    assert len(calls) == 2  # the second page brought nothing new: stop, say incomplete
    await adapter.aclose()


def test_page_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page sizes"):
        CeligoMiddleware({}, page_limit=0)
    with pytest.raises(ValueError, match="page sizes"):
        CeligoMiddleware({}, jobs_page=0)


# --- (c) faults -------------------------------------------------------------------------------


async def _read(
    monkeypatch: pytest.MonkeyPatch, faults: Faults, sleep: Sleeps | None = None
) -> tuple[CeligoEmulator, MiddlewareSnapshot | AdapterError]:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state, faults=faults)
    adapter = _adapter(emulator, monkeypatch, sleep=sleep)
    try:
        return emulator, await adapter.read_activity(scenario.sku, _since(state))
    except AdapterError as error:
        return emulator, error


def _first_wave() -> int:
    """Requests a read sends before any answer: the five account lists, and per configured flow
    its latest job, its runs and its error summary."""
    return 5 + 3 * len(_scenario("SKU-3101")[1].flows)


async def _baseline_calls(monkeypatch: pytest.MonkeyPatch) -> int:
    emulator, result = await _read(monkeypatch, Faults())
    assert isinstance(result, MiddlewareSnapshot)
    return len(emulator.calls)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_retryable_statuses_are_retried(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = await _baseline_calls(monkeypatch)
    sleeps = Sleeps()
    faults = Faults(statuses=[Scripted(status, retry_after=7), Scripted(status, retry_after=7)])
    emulator, result = await _read(monkeypatch, faults, sleeps)
    assert isinstance(result, MiddlewareSnapshot)
    assert len(emulator.calls) == baseline + 2  # two calls answered the fault, then retried
    # Retry-After exactly, plus its small jitter; after it the client's bucket only paces the
    # next requests at Celigo's drain rate (1/300 s each), it adds no refill of its own.
    retries = [w for w in sleeps.waits if w >= 1]
    assert len(retries) == 2 and all(7 <= w <= 7 + retry_after_spread(7) for w in retries)
    assert all(w <= 1 / LEAK_RATE + 1e-9 for w in sleeps.waits if w < 1)


async def test_persistent_server_errors_give_up_within_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, result = await _read(monkeypatch, Faults(statuses=[Scripted(503)] * 100))
    assert isinstance(result, AdapterError)
    assert (result.kind, result.status) == ("server_error", 503)
    assert "integrator.io is temporarily unavailable" in result.message
    assert len(emulator.calls) <= _first_wave() * POLICY.max_attempts  # three tries each


async def test_persistent_429_is_rate_limited_with_the_vendor_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, result = await _read(monkeypatch, Faults(statuses=[Scripted(429, 1)] * 100))
    assert isinstance(result, AdapterError)
    assert (result.kind, result.status) == ("rate_limited", 429)
    assert "Rate limit exceeded" in result.message
    assert len(emulator.calls) <= _first_wave() * POLICY.max_attempts


async def test_timeouts_are_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, result = await _read(monkeypatch, Faults(timeout=True))
    assert isinstance(result, AdapterError) and result.kind == "timeout"
    assert POLICY.max_attempts <= len(emulator.calls) <= _first_wave() * POLICY.max_attempts


async def test_expired_token_is_an_auth_error_and_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, result = await _read(monkeypatch, Faults(expired_token=True))
    assert isinstance(result, AdapterError)
    assert (result.kind, result.status) == ("auth", 401)
    assert "expired" in result.message
    assert len(emulator.calls) <= _first_wave()  # each first-wave read tried once


async def test_wrong_token_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state, token="the-right-one")
    adapter = _adapter(emulator, monkeypatch)
    monkeypatch.setenv(TOKEN_ENV, "a-wrong-one")
    with pytest.raises(AdapterError) as caught:
        await adapter.read_activity(scenario.sku, _since(state))
    assert (caught.value.kind, caught.value.status) == ("auth", 401)


async def test_missing_env_var_is_an_auth_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state)
    adapter = _adapter(emulator, monkeypatch)
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(AdapterError) as caught:
        await adapter.read_activity(scenario.sku, _since(state))
    assert caught.value.kind == "auth" and TOKEN_ENV in caught.value.message
    assert emulator.calls == []


async def test_malformed_body_is_bad_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, result = await _read(monkeypatch, Faults(malformed=True))
    assert isinstance(result, AdapterError) and result.kind == "bad_payload"
    assert "invalid JSON" in result.message
    assert len(emulator.calls) <= _first_wave()  # a 200 that is not JSON is not retried


async def test_latency_is_injected_through_the_emulators_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = _scenario("SKU-3101")
    sleeps = Sleeps()
    emulator = CeligoEmulator(state, faults=Faults(latency=2.5), sleep=sleeps)
    await _adapter(emulator, monkeypatch).read_activity(scenario.sku, _since(state))
    assert sleeps.waits == [2.5] * len(emulator.calls)


async def test_emulator_leaky_bucket_throttles_until_it_drains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = _scenario("SKU-3101")
    now = [0.0]

    class Advancing(Sleeps):
        async def __call__(self, seconds: float) -> None:
            await super().__call__(seconds)
            now[0] += seconds  # the client's wait drains the emulator's bucket

    sleeps = Advancing()
    emulator = CeligoEmulator(state, bucket_size=4, leak_rate=2, clock=lambda: now[0])
    retry = RetryPolicy(max_attempts=50, total_seconds=600, base_delay=0.1, max_delay=1)
    adapter = _adapter(emulator, monkeypatch, sleep=sleeps, retry=retry)
    snapshot = await adapter.read_activity(scenario.sku, _since(state))
    assert snapshot.flows
    # Retry-After: one request's worth of draining, rounded up to a whole second, plus jitter.
    assert any(1.0 <= w <= 1.0 + retry_after_spread(1.0) for w in sleeps.waits)


async def test_emulator_bucket_without_draining_ends_rate_limited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state, bucket_size=3, leak_rate=1, clock=lambda: 0.0)
    with pytest.raises(AdapterError) as caught:
        await _adapter(emulator, monkeypatch).read_activity(scenario.sku, _since(state))
    assert (caught.value.kind, caught.value.status) == ("rate_limited", 429)


# --- (d) credential canary --------------------------------------------------------------------

CANARY = "canary-celigo-7f3e9a1b5c2d"


class Echoing(httpx.AsyncBaseTransport):
    """Answers with bodies that repeat the bearer token, as a careless proxy might."""

    def __init__(self, status: int, body: str) -> None:
        self.status, self.body = status, body

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        echoed = self.body.replace("{auth}", request.headers["Authorization"])
        return httpx.Response(self.status, content=echoed.encode())


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, '{"errors":[{"code":"unauthorized","message":"{auth} was refused"}]}', "auth"),
        (500, '{"message":"upstream said: token={auth}"}', "server_error"),
        (200, "<html>{auth}</html>", "bad_payload"),
    ],
)
async def test_canary_never_leaks_from_errors_or_logs(
    status: int,
    body: str,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_ENV, CANARY)
    adapter = CeligoMiddleware(
        {"f1": INVENTORY},
        token_env=TOKEN_ENV,
        transport=Echoing(status, body),
        retry=POLICY,
        sleep=Sleeps(),
    )
    with pytest.raises(AdapterError) as caught:
        await adapter.read_activity("SKU-1", datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.kind == kind
    assert CANARY not in str(caught.value) and CANARY not in repr(caught.value.args)
    assert CANARY not in caplog.text


async def test_canary_never_reaches_the_snapshot_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scenario, state = _scenario("SKU-3101")
    emulator = CeligoEmulator(state, token=CANARY, faults=Faults(statuses=[Scripted(503)]))
    snapshot = await _adapter(emulator, monkeypatch).read_activity(scenario.sku, _since(state))
    assert CANARY not in json.dumps(snapshot.raw) and CANARY not in snapshot.model_dump_json()
    assert "retrying" in caplog.text  # the retry was logged …
    assert CANARY not in caplog.text  # … without the token


# --- (e) a refused route degrades only what needs it ------------------------------------------


class Refusing(httpx.AsyncBaseTransport):
    """The emulator, except that requests whose path matches ``route`` answer ``status``."""

    def __init__(self, inner: CeligoEmulator, route: str, status: int) -> None:
        self.inner, self.route, self.status = inner, re.compile(route), status
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.route.search(request.url.path):
            self.refused += 1
            body = {"errors": [{"code": "forbidden", "message": "Access denied for this token"}]}
            return httpx.Response(self.status, json=body)
        return await self.inner.handle_async_request(request)


# route (a regular expression on the path) → the topic of the fact that says what was lost
ROUTES = {
    r"/v1/audit$": "changes",
    r"/v1/imports$": "mappings",
    r"/v1/exports$": "flow_status",
    r"/v1/connections$": "flow_status",
    r"/jobs/latest$": "flow_status",
    r"/v1/jobs$": "log",
    r"/logs$": "log",
    r"/v1/flows/[^/]+/[^/]+/errors$": "log",
    r"/resolved$": "log",
    r"/v1/flows/[^/]+/errors$": "log_window",  # the summary: every step's errors are read
}


async def _refused_read(
    monkeypatch: pytest.MonkeyPatch, route: str, status: int, sku: str = "SKU-B"
) -> tuple[Refusing, MiddlewareSnapshot]:
    _, state = _busy()
    refusing = Refusing(CeligoEmulator(state), route, status)
    monkeypatch.setenv(TOKEN_ENV, refusing.inner.token)
    adapter = CeligoMiddleware(
        flow_mappings_for(state),
        token_env=TOKEN_ENV,
        transport=refusing,
        retry=POLICY,
        sleep=Sleeps(),
        clock=lambda: state.read_at,
    )
    return refusing, await adapter.read_activity(sku, _since(state))


@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_refused_route_costs_only_what_needs_it(
    route: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, whole = await _refused_read(monkeypatch, r"^$", status)
    refusing, snapshot = await _refused_read(monkeypatch, route, status)
    assert refusing.refused > 0
    topic = ROUTES[route]
    said = [n for n in snapshot.not_visible if n.startswith(f"{topic}:")]
    assert said and f"HTTP {status}" in said[0] and "Access denied" in said[0]
    # Everything the route does not feed is read as before.
    assert [f.id for f in snapshot.flows] == [f.id for f in whole.flows]
    if topic != "changes" and "connections" not in route:
        assert snapshot.changes == whole.changes
    if "connections" in route:  # a connection's change cannot be put down to its system
        assert any(n.startswith("changes:") for n in snapshot.not_visible)
    if topic != "mappings":
        assert snapshot.sku_mapping == whole.sku_mapping
    if topic == "log_window":  # no summary: the open errors of every step are read instead
        assert snapshot.log == whole.log
    if route == r"/v1/jobs$":
        # No runs: nothing is known of the execution log, and the log says so by its window.
        assert snapshot.log_window_start == snapshot.read_at
        assert {e.stage for e in snapshot.log} <= {"error", "rate_limited"}


@pytest.mark.parametrize("route", [r"/v1/flows$", r"/v1/audit$"])
async def test_a_bad_token_still_fails_the_whole_read(
    route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AdapterError) as caught:
        await _refused_read(monkeypatch, route, 401)
    assert caught.value.kind == "auth"


async def test_without_the_flow_list_there_is_no_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AdapterError) as caught:
        await _refused_read(monkeypatch, r"/v1/flows$", 403)
    assert (caught.value.kind, caught.value.status) == ("auth", 403)


# --- (f) a triage costs a bounded number of requests ------------------------------------------


def _every(minutes: int, hours: int = 72) -> tuple[MiddlewareSnapshot, FlowHealth]:
    flow = Flow(
        id="f-busy",
        name="Inventory",
        hop="storefront_to_erp",
        trigger="poll",
        interval_minutes=minutes,
    )
    state = MiddlewareSnapshot(
        source=Source(system="celigo", endpoint="test"), read_at=T0, vendor="celigo", flows=[flow]
    )
    runs = hours * 60 // minutes
    health = FlowHealth(
        source=Source(system="celigo", endpoint="test"),
        read_at=T0,
        flow_id=flow.id,
        name=flow.name,
        hop=flow.hop,
        window_start=T0 - timedelta(hours=hours),
        runs=runs,
        records_ok=3 * runs,
        open_errors=2,
    )
    return state, health


@pytest.mark.parametrize("minutes", [60, 15, 5, 1])
async def test_requests_per_triage_do_not_grow_with_the_schedule(
    minutes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, health = _every(minutes)
    emulator = CeligoEmulator(state, runs=[health], page_size=1000, error_page_size=1000)
    snapshot = await _adapter(emulator, monkeypatch).read_activity("SKU-1", _since(state))
    # 5 listings; for the flow its latest run, its error summary, at most TRIAGE_JOB_PAGES
    # pages of runs, the open errors of its one failing step, the resolved errors of its two
    # steps, and the execution logs of at most MAX_LOG_RUNS runs.
    bound = 5 + 1 + 1 + TRIAGE_JOB_PAGES + 1 + 2 + MAX_LOG_RUNS
    assert len(emulator.calls) <= bound
    assert sum("/logs" in c for c in emulator.calls) == min(MAX_LOG_RUNS, health.runs)
    # What was not read is said: the older runs' logs, and (every 1 min) the runs not listed.
    facts = " ".join(snapshot.not_visible)
    assert "were not read" in facts
    if health.runs > TRIAGE_JOB_PAGES * JOBS_PAGE:
        assert "were not listed" in facts
    assert snapshot.log_window_start is not None and snapshot.log_window_start > _since(state)


async def test_a_five_minute_flow_costs_what_an_hourly_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts = []
    for minutes in (60, 5):
        state, health = _every(minutes)
        emulator = CeligoEmulator(state, runs=[health], page_size=1000, error_page_size=1000)
        await _adapter(emulator, monkeypatch).read_activity("SKU-1", _since(state))
        counts.append(len(emulator.calls))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("route", "check_id"),
    [(r"/v1/audit$", "L3.recent_changes"), (r"/v1/imports$", "L3.sku_mapping")],
)
async def test_a_refused_route_makes_its_checks_unknown_never_a_pass(
    route: str, check_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, snapshot = await _refused_read(monkeypatch, route, 403)
    outcome = CHECKS[check_id](facts(mw=snapshot))
    assert outcome.status == "unknown" and "HTTP 403" in outcome.detail
