"""Weekly connector health: the 0.5 % error-rate bar, stopped flows named with their reason,
never an all clear when the connector cannot be read — over the real Celigo adapter and its
emulator, the sandbox catalog, and ``oos health``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.monitor.health import ERROR_RATE_BAR, check_health, judge, render_text
from bot.monitor.sources import Monitor
from tools.errors import AdapterError
from tools.middleware.celigo import MAX_PAGES, CeligoMiddleware
from tools.models import Flow, FlowHealth, MiddlewareSnapshot, Source
from tools.retry import RetryPolicy
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)
SRC = Source(system="celigo", endpoint="test")


def health(**fields: object) -> FlowHealth:
    values: dict[str, object] = {
        "source": SRC,
        "read_at": NOW,
        "flow_id": "f1",
        "name": "Shopify → NetSuite inventory",
        "hop": "storefront_to_erp",
        "window_start": WEEK_AGO,
        "runs": 100,
        "records_ok": 999,
        "records_failed": 1,
    }
    values.update(fields)
    return FlowHealth.model_validate(values)


# --- the judgement -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ok", "failed", "flagged"),
    [
        (1000, 0, False),
        (996, 4, False),  # 0.4 %: under the bar
        (995, 5, True),  # 0.5 %: healthy means *under* 0.5 %
        (994, 6, True),
        (0, 1, True),
        (0, 0, False),  # nothing ran: no rate to judge
    ],
)
def test_the_error_rate_bar(ok: int, failed: int, flagged: bool) -> None:
    line = judge(health(records_ok=ok, records_failed=failed), now=NOW)
    assert ("error_rate" in line.problems) is flagged
    assert ERROR_RATE_BAR == 0.005


def test_ignored_records_are_not_errors() -> None:
    line = judge(health(records_ok=990, records_failed=4, records_ignored=5_000), now=NOW)
    assert line.problems == [] and line.error_rate == pytest.approx(4 / 994)


def test_stopped_flows_are_named_with_their_reason() -> None:
    since = NOW - timedelta(hours=5)
    line = judge(
        health(status="suspended", status_reason="API token revoked", status_since=since), now=NOW
    )
    assert line.problems[0] == "suspended"
    assert line.reason == "API token revoked" and line.since == since


def test_a_switched_off_flow_the_config_does_not_name_is_listed_not_flagged() -> None:
    mapped = judge(health(status="disabled"), now=NOW)
    unmapped = judge(health(status="disabled", hop=None, name="Orders → 3PL"), now=NOW)
    assert mapped.problems == ["disabled"]
    assert unmapped.problems == [] and "switched off" in unmapped.notes[0]


def test_a_polled_inventory_flow_that_stopped_running_is_stalled() -> None:
    fresh = health(trigger="poll", interval_minutes=15, last_run_at=NOW - timedelta(minutes=20))
    stale = health(trigger="poll", interval_minutes=15, last_run_at=NOW - timedelta(minutes=50))
    assert judge(fresh, now=NOW).problems == []
    line = judge(stale, now=NOW)
    assert line.problems == ["stalled"] and "last ran 50 min ago" in line.notes[0]


class Unreadable:
    system = "celigo"

    async def read_activity(self, sku: str, since: datetime) -> MiddlewareSnapshot:
        raise NotImplementedError

    async def flow_health(self, since: datetime) -> list[FlowHealth]:
        raise AdapterError("celigo", "auth", "The API token has expired", status=401)


async def test_an_unreadable_connector_is_never_reported_healthy() -> None:
    report = await check_health(Unreadable(), now=NOW)
    assert not report.healthy and report.flows == []
    assert "refused our credentials" in (report.error or "")
    assert "NOT CHECKED" in render_text(report)


# --- over the Celigo adapter and its emulator ----------------------------------------------------


def _account(*flows: Flow) -> MiddlewareSnapshot:
    return MiddlewareSnapshot(source=SRC, read_at=NOW, vendor="celigo", flows=list(flows))


def _adapter(
    emulator: CeligoEmulator, mapped: list[str] | None = None, jobs_page: int = 1000
) -> CeligoMiddleware:
    mappings = flow_mappings_for(emulator.state)
    if mapped is not None:
        mappings = {k: v for k, v in mappings.items() if k in mapped}
    return CeligoMiddleware(
        mappings,
        token_env="CELIGO_TEST_TOKEN",
        transport=emulator,
        retry=RetryPolicy.off(),
        clock=lambda: NOW,
        environ={"CELIGO_TEST_TOKEN": emulator.token},
        jobs_page=jobs_page,
    )


INVENTORY = Flow(id="inv", name="Shopify → NetSuite inventory", hop="storefront_to_erp")
AMAZON = Flow(
    id="amz",
    name="Shopify → Amazon",
    hop="storefront_to_marketplace",
    channel="amazon",
    trigger="poll",
    interval_minutes=15,
    last_run_at=NOW - timedelta(minutes=4),
)
DOWN = Flow(
    id="down",
    name="NetSuite → Shopify",
    hop="erp_to_storefront",
    trigger="poll",
    interval_minutes=30,
    status="suspended",
    status_reason="connection offline: password expired",
    status_since=NOW - timedelta(hours=3),
)


def _runs(flow: Flow, **counts: int) -> FlowHealth:
    return health(flow_id=flow.id, name=flow.name, hop=flow.hop, **counts)


async def test_celigo_flow_health_reads_runs_statuses_and_reasons_back() -> None:
    emulator = CeligoEmulator(
        _account(INVENTORY, AMAZON, DOWN),
        runs=[
            _runs(INVENTORY, runs=12, failed_runs=1, records_ok=4_000, records_failed=3),
            _runs(AMAZON, runs=7, records_ok=700, records_failed=9, records_ignored=40),
        ],
    )
    adapter = _adapter(emulator, mapped=["inv", "down"])
    try:
        flows = {f.flow_id: f for f in await adapter.flow_health(WEEK_AGO)}
    finally:
        await adapter.aclose()

    inv, amz, down = flows["inv"], flows["amz"], flows["down"]
    assert (inv.runs, inv.failed_runs, inv.records_ok, inv.records_failed) == (12, 1, 4_000, 3)
    assert (amz.records_ok, amz.records_failed, amz.records_ignored) == (700, 9, 40)
    assert amz.hop is None, "a flow the config does not name is reported, hop unknown"
    assert (amz.trigger, amz.interval_minutes) == ("poll", 15)
    assert (down.status, down.status_reason) == (
        "suspended",
        "connection offline: password expired",
    )
    assert down.status_since == DOWN.status_since and down.hop == "erp_to_storefront"
    assert all(f.complete for f in flows.values())
    # Step errors (for a reason) are read only for the flow that is not active.
    step_errors = [c for c in emulator.calls if c.endswith("/errors") and c.count("/") > 4]
    assert step_errors and all("/flows/down/" in c for c in step_errors)

    report = await check_health(_adapter(emulator, mapped=["inv", "down"]), now=NOW)
    flagged = {f.flow_id: f.problems for f in report.flagged}
    assert flagged == {"down": ["suspended"], "amz": ["error_rate"]}


async def test_more_runs_than_the_pages_read_make_the_counts_a_lower_bound() -> None:
    page = 3  # runs a GET /jobs page holds
    emulator = CeligoEmulator(
        _account(INVENTORY),
        runs=[_runs(INVENTORY, runs=page * MAX_PAGES + 10, records_ok=100_000, records_failed=0)],
        jobs_page_size=page,
    )
    adapter = _adapter(emulator, jobs_page=page)
    try:
        (flow,) = await adapter.flow_health(WEEK_AGO)
    finally:
        await adapter.aclose()
    # Each page after the first repeats its boundary run (paged by createdAt_lte).
    assert not flow.complete and flow.runs == page + (page - 1) * (MAX_PAGES - 1)
    line = judge(flow, now=NOW)
    assert "lower bound" in " ".join(line.notes)


async def test_a_configured_flow_missing_from_the_account_is_an_error_not_a_pass() -> None:
    emulator = CeligoEmulator(_account(INVENTORY))
    adapter = CeligoMiddleware(
        {**flow_mappings_for(emulator.state), "gone": flow_mappings_for(emulator.state)["inv"]},
        token_env="CELIGO_TEST_TOKEN",
        transport=emulator,
        retry=RetryPolicy.off(),
        clock=lambda: NOW,
        environ={"CELIGO_TEST_TOKEN": emulator.token},
    )
    report = await check_health(adapter, now=NOW)
    await adapter.aclose()
    assert not report.healthy and "gone" in (report.error or "")


# --- the sandbox catalog, and `oos health` -------------------------------------------------------


def _expected(catalog: GeneratedCatalog) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in catalog.flow_health(NOW, WEEK_AGO):
        problems = set()
        if f.status != "active":
            problems.add(f.status)
        if f.records_failed / (f.records_ok + f.records_failed) >= ERROR_RATE_BAR:
            problems.add("error_rate")
        if problems:
            out[f.flow_id] = problems
    return out


@pytest.mark.parametrize("seed", [7, 11, 23])
async def test_the_sandbox_flags_exactly_its_seeded_flows(tmp_path: Path, seed: int) -> None:
    monitor = Monitor.sandbox(tmp_path / "t.db", size=500, seed=seed, clock=lambda: NOW)
    report = await monitor.health()
    assert report.error is None and len(report.flows) == 4
    flagged = {f.flow_id: set(f.problems) for f in report.flagged}
    assert flagged == _expected(GeneratedCatalog(500, seed))
    assert any("suspended" in p for p in flagged.values())
    assert any("error_rate" in p for p in flagged.values())


def test_oos_health_sandbox_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        main(["health", "--sandbox", "--size", "500", "--json", "--db", str(tmp_path / "t.db")])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert {f["flow_id"] for f in report["flows"]} == {
        "flow-sf-erp",
        "flow-erp-sf",
        "flow-sf-amazon",
        "flow-wms-erp",
    }
    assert report["bar"] == ERROR_RATE_BAR and report["error"] is None
    suspended = [f for f in report["flows"] if f["status"] == "suspended"]
    assert (
        len(suspended) == 1 and suspended[0]["reason"] and "suspended" in suspended[0]["problems"]
    )


def test_oos_health_without_the_connectors_credentials_says_which(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CELIGO_API_TOKEN", raising=False)
    config = Path(__file__).resolve().parents[2] / "examples" / "stack.toml"
    assert main(["health", "--config", str(config), "--db", str(tmp_path / "t.db")]) == 2
    err = capsys.readouterr().err
    assert "CELIGO_API_TOKEN" in err and "Traceback" not in err


async def test_a_configured_stack_reads_health_through_its_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "stack.toml")
    ids = list(config.middleware.options["flows"])
    inventory = INVENTORY.model_copy(update={"id": ids[0]})
    amazon = AMAZON.model_copy(update={"id": ids[1], "status": "error", "status_since": NOW})
    emulator = CeligoEmulator(
        _account(inventory, amazon), runs=[_runs(inventory, records_ok=500, records_failed=0)]
    )
    monkeypatch.setenv("CELIGO_API_TOKEN", emulator.token)
    monitor = Monitor.from_config(
        config, tmp_path / "t.db", transports={"middleware": emulator}, clock=lambda: NOW
    )
    report = await monitor.health()
    assert report.error is None
    assert {f.flow_id: f.problems for f in report.flows} == {
        ids[0]: [],
        ids[1]: ["error", "error_rate"],  # its one (failed) run failed its record
    }
    assert (
        report.flows[0].hop == "storefront_to_marketplace" and report.flows[0].channel == "amazon"
    )
