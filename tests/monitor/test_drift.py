"""The drift check end to end: ``run_drift`` over the sandbox catalog and over a stack config
(the real adapters against the vendor emulators), new / open / resolved across runs and
restarts, the config's way of comparing, faults, the CSV, the JSON and ``oos drift``."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.config import ConfigError, StackConfig, load_config
from bot.monitor.drift import (
    CSV_COLUMNS,
    DriftError,
    DriftResult,
    render_text,
    run_drift,
    sandbox_transports,
    write_csv,
)
from bot.monitor.state import DriftState
from bot.store import TriageStore
from tools.erp.netsuite_auth import TbaEnv
from tools.models import ErpItem, ErpSnapshot, LocationQuantity, Source, StorefrontSnapshot
from tools.sandbox.catalog import GeneratedCatalog
from tools.sandbox.emulators.faults import Faults
from tools.sandbox.emulators.netsuite import NetSuiteEmulator, sandbox_environ
from tools.sandbox.emulators.shopify import ShopifyEmulator

T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SHOP_TOKEN_ENV = "OOS_TEST_DRIFT_SHOPIFY_TOKEN"
NS_ENV = TbaEnv("OOS_TEST_NS_CK", "OOS_TEST_NS_CS", "OOS_TEST_NS_TID", "OOS_TEST_NS_TS")


def expected(catalog: GeneratedCatalog, at: datetime) -> dict[str, tuple[int, int]]:
    return {s: (g.storefront, g.erp) for s, g in catalog.expected_gaps(catalog.day(at)).items()}


def found(result: DriftResult) -> dict[str, tuple[int, int]]:
    return {i.sku: (i.storefront, i.erp) for i in result.flagged}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = TriageStore(tmp_path / "oos.db")
    yield s
    s.close()


# --- the sandbox catalog: known gaps, found exactly -------------------------------------------


@pytest.mark.parametrize(("size", "seed"), [(1, 1), (40, 2), (3_000, 7), (12_000, 31)])
async def test_known_gaps_are_found_exactly(store: TriageStore, size: int, seed: int) -> None:
    catalog = GeneratedCatalog(size, seed)
    for day in range(3):
        result = await run_drift(catalog, store, T0 + day * DAY)
        assert found(result) == expected(catalog, T0 + day * DAY)
        assert all(abs(i.gap) > catalog.threshold for i in result.flagged)
    assert expected(catalog, T0) or size < 40  # the larger catalogs do show gaps


async def test_flagged_is_worst_first_and_the_counts_add_up(store: TriageStore) -> None:
    catalog = GeneratedCatalog(20_000, seed=3)
    result = await run_drift(catalog, store, T0)
    gaps = [abs(i.gap) for i in result.flagged]
    assert gaps == sorted(gaps, reverse=True)
    assert result.worst(3) == result.flagged[:3]
    c = result.counts
    assert (c.flagged, c.new, c.open, c.resolved) == (len(result.flagged), c.flagged, 0, 0)
    nc = result.not_compared
    assert c.compared + nc.storefront_only + nc.erp_only + nc.untracked + nc.duplicate_skus == (
        20_000
    )


# --- new / open / resolved across runs and restarts --------------------------------------------


async def test_new_open_and_resolved_hold_across_runs_and_restarts(tmp_path: Path) -> None:
    catalog = GeneratedCatalog(8_000, seed=13)
    db = tmp_path / "oos.db"
    days = [T0, T0 + DAY, T0 + 2 * DAY, T0 + 4 * DAY]
    first_seen: dict[str, datetime] = {}
    previous: dict[str, tuple[int, int]] = {}
    statuses: set[str] = set()
    longest = 0
    for k, at in enumerate(days):
        store = TriageStore(db)  # a new store object each run: a restart
        result = await run_drift(catalog, store, at)
        store.close()

        now = expected(catalog, at)
        status = {i.sku: i.status for i in result.flagged}
        assert found(result) == now
        assert {s for s, v in status.items() if v == "new"} == set(now) - set(previous)
        assert {s for s, v in status.items() if v == "open"} == set(now) & set(previous)
        assert {i.sku for i in result.resolved} == set(previous) - set(now)
        assert result.previous_run_at == (days[k - 1] if k else None)
        for item in result.flagged:
            first_seen.setdefault(item.sku, at)
            assert item.first_seen == first_seen[item.sku]
            assert item.last_seen == at
            assert item.days_open == (at - first_seen[item.sku]).days
        for item in result.resolved:
            assert item.first_seen == first_seen.pop(item.sku)
            assert item.last_seen == days[k - 1]
            assert abs(item.gap) <= catalog.threshold
        statuses |= {i.status for i in [*result.flagged, *result.resolved]}
        longest = max([longest, *(i.days_open for i in result.flagged)])
        previous = now
    # the seeded cycles give every status, and a gap open for days, over these four runs
    assert statuses == {"new", "open", "resolved"}
    assert longest >= 2


def _pair(sku: str, storefront: int, erp: int) -> tuple[StorefrontSnapshot, ErpSnapshot]:
    location = LocationQuantity(location_id="1", name="Main", kind="warehouse", available=erp)
    return (
        StorefrontSnapshot(
            source=Source(system="shopify", endpoint="test"),
            read_at=T0,
            sku=sku,
            available=storefront,
        ),
        ErpSnapshot(
            source=Source(system="netsuite", endpoint="test"),
            read_at=T0,
            vendor="netsuite",
            item=ErpItem(item_id=str(100 + int(sku[-1])), sku=sku, name=sku),
            available=erp,
            locations=[location],
        ),
    )


def stack(**drift: Any) -> StackConfig:
    roles = ("consumer_key", "consumer_secret", "token_id", "token_secret")
    ns = dict(zip(roles, NS_ENV.names(), strict=True))
    return StackConfig.model_validate(
        {
            "name": "acme-test",
            "storefront": {
                "vendor": "shopify",
                "options": {"shop": "oos-sandbox"},
                "credentials": {"access_token": SHOP_TOKEN_ENV},
            },
            "middleware": {"vendor": "celigo"},
            "erp": {"vendor": "netsuite", "options": {"account_id": "1234567"}, "credentials": ns},
            "drift": drift,
        }
    )


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SHOP_TOKEN_ENV, "shpat_sandbox_token_0000")
    for name, value in sandbox_environ(NS_ENV).items():
        monkeypatch.setenv(name, value)


def emulators(pairs: list[tuple[StorefrontSnapshot, ErpSnapshot]]) -> dict[str, Any]:
    return {
        "storefront": ShopifyEmulator([sf for sf, _ in pairs], bulk_polls=0),
        "erp": NetSuiteEmulator([erp for _, erp in pairs]),
    }


@pytest.mark.usefixtures("credentials")
async def test_a_gap_that_resolves_and_returns_opens_a_new_episode(store: TriageStore) -> None:
    config = stack()
    steps = [(40, 10, "new"), (41, 10, "open"), (12, 10, "resolved"), (30, 10, "new")]
    seen = []
    for k, (storefront, erp, status) in enumerate(steps):
        at = T0 + k * DAY
        result = await run_drift(
            config, store, at, transports=emulators([_pair("B-1", storefront, erp)])
        )
        (item,) = [*result.flagged, *result.resolved]
        assert (item.status, item.storefront, item.erp) == (status, storefront, erp)
        seen.append(item.first_seen)
    assert seen == [T0, T0, T0, T0 + 3 * DAY]


@pytest.mark.usefixtures("credentials")
async def test_an_open_gap_the_run_cannot_compare_stays_open_unverified(
    store: TriageStore,
) -> None:
    config = stack()
    gone = _pair("C-1", 50, 10)[1]
    runs = [
        [_pair("C-1", 50, 10), _pair("C-2", 3, 3)],
        [_pair("C-2", 3, 3)],  # C-1 is gone from the storefront for a day
        [_pair("C-2", 3, 3)],
    ]
    first = await run_drift(config, store, T0, transports=emulators(runs[0]))
    assert [i.sku for i in first.flagged] == ["C-1"]

    transports = emulators(runs[1])
    transports["erp"] = NetSuiteEmulator([gone, runs[1][0][1]])
    second = await run_drift(config, store, T0 + DAY, transports=transports)
    assert (second.flagged, second.resolved, second.unverified) == ([], [], ["C-1"])
    assert second.not_compared.erp_only == 1
    assert DriftState.of(store).open_skus("acme-test") == ["C-1"]

    third = await run_drift(
        config, store, T0 + 2 * DAY, transports=emulators([_pair("C-1", 10, 10)])
    )
    assert [(i.sku, i.status, i.first_seen) for i in third.resolved] == [("C-1", "resolved", T0)]


async def test_scopes_are_kept_apart(store: TriageStore) -> None:
    a, b = GeneratedCatalog(3_000, seed=1), GeneratedCatalog(3_000, seed=2)
    await run_drift(a, store, T0)
    second = await run_drift(b, store, T0 + DAY)
    assert second.previous_run_at is None
    assert all(i.status == "new" for i in second.flagged)
    assert second.resolved == []


# --- compared the way the config says ------------------------------------------------------------


def catalog_emulators(
    catalog: GeneratedCatalog, at: datetime
) -> dict[str, httpx.AsyncBaseTransport]:
    return sandbox_transports(catalog, catalog.day(at))


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(
    "drift",
    [
        {"erp_locations": ["1", "2"]},
        {"measure": "on_hand", "erp_locations": ["1", "2"]},
        {"storefront_locations": ["gid://shopify/Location/1"], "erp_locations": ["1"]},
        {
            "measure": "on_hand",
            "storefront_locations": ["gid://shopify/Location/1", "gid://shopify/Location/2"],
            "erp_locations": ["2", "1"],
        },
    ],
)
async def test_no_false_positive_when_compared_as_the_config_says(
    store: TriageStore, drift: dict[str, Any]
) -> None:
    catalog = GeneratedCatalog(6_000, seed=21)
    result = await run_drift(stack(**drift), store, T0, transports=catalog_emulators(catalog, T0))
    want = expected(catalog, T0)
    assert want
    # Exactly the seeded SKUs, by exactly their gaps (the figures themselves depend on which
    # quantity and locations were summed: every seeded gap sits at the main location).
    assert {s: a - b for s, (a, b) in found(result).items()} == {
        s: a - b for s, (a, b) in want.items()
    }
    if "measure" not in drift and "storefront_locations" not in drift:
        assert found(result) == want
    assert result.measure == drift.get("measure", "available")
    assert result.erp_locations == drift["erp_locations"]


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(
    "wrong",
    [
        {},  # every ERP location: the returns stock counts as sellable
        {
            "measure": "on_hand",
            "storefront_locations": ["gid://shopify/Location/1"],
            "erp_locations": ["1", "2"],
        },
    ],
)
async def test_comparing_another_way_than_the_stack_works_flags_more(
    store: TriageStore, wrong: dict[str, Any]
) -> None:
    """The control: the catalog is built so a wrong comparison shows, so the test above can fail."""
    catalog = GeneratedCatalog(6_000, seed=21)
    result = await run_drift(stack(**wrong), store, T0, transports=catalog_emulators(catalog, T0))
    assert len(result.flagged) > 3 * len(expected(catalog, T0))


def test_the_drift_table_of_a_stack_config(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    base = """
[storefront]
vendor = "shopify"
options = { shop = "acme" }
[middleware]
vendor = "celigo"
options = { flows = {} }
[erp]
vendor = "netsuite"
options = { account_id = "1234567" }
[thresholds]
drift_units = 8
"""
    path.write_text(base + '[drift]\nmeasure = "on_hand"\nerp_locations = ["1", "2"]\n')
    config = load_config(path)
    rule = config.drift.rule(config.thresholds.drift_units)
    assert (rule.measure, rule.threshold, rule.erp_locations) == ("on_hand", 8, ("1", "2"))
    assert rule.storefront_locations is None
    path.write_text(base + "[drift]\nerp_locations = []\n")
    with pytest.raises(ConfigError, match="erp_locations"):
        load_config(path)
    path.write_text(base + '[drift]\nmeasure = "sellable"\n')
    with pytest.raises(ConfigError, match="measure"):
        load_config(path)


# --- faults: never a partial or false "in sync" ---------------------------------------------------


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(
    ("system", "faults", "words"),
    [
        ("erp", Faults(expired_token=True), "netsuite refused our credentials"),
        ("storefront", Faults(expired_token=True), "shopify refused our credentials"),
        ("erp", Faults(malformed=True), "netsuite returned an answer we could not read"),
    ],
)
async def test_an_unreadable_system_raises_and_records_nothing(
    store: TriageStore, system: str, faults: Faults, words: str
) -> None:
    catalog = GeneratedCatalog(3_000, seed=5)
    config = stack(erp_locations=["1", "2"])
    before = await run_drift(config, store, T0, transports=catalog_emulators(catalog, T0))
    transports = catalog_emulators(catalog, T0 + DAY)
    transports[system].faults = faults  # type: ignore[attr-defined]
    with pytest.raises(DriftError, match=words) as caught:
        await run_drift(config, store, T0 + DAY, transports=transports)
    assert caught.value.system == ("netsuite" if system == "erp" else "shopify")
    state = DriftState.of(store)
    assert state.last_run("acme-test")["id"] == before.run_id  # type: ignore[index]
    assert state.open_skus("acme-test") == sorted(i.sku for i in before.flagged)


async def test_a_missing_credential_is_a_config_error(store: TriageStore) -> None:
    with pytest.raises(ConfigError, match=SHOP_TOKEN_ENV):
        await run_drift(stack(), store, T0)


# --- what a run hands on: CSV, JSON, text -----------------------------------------------------------


async def test_the_csv_holds_every_flagged_then_every_resolved_sku(store: TriageStore) -> None:
    catalog = GeneratedCatalog(8_000, seed=13)
    await run_drift(catalog, store, T0)
    result = await run_drift(catalog, store, T0 + DAY)
    assert result.resolved and result.flagged

    out = io.StringIO()
    assert write_csv(result, out) == len(result.flagged) + len(result.resolved)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["sku"] for r in rows] == [i.sku for i in [*result.flagged, *result.resolved]]
    for row, item in zip(rows, [*result.flagged, *result.resolved], strict=True):
        assert row["status"] == item.status
        assert (int(row["storefront"]), int(row["erp"])) == (item.storefront, item.erp)
        assert int(row["gap"]) == item.storefront - item.erp
        assert datetime.fromisoformat(row["first_seen"]) == item.first_seen
        assert int(row["days_open"]) == item.days_open
        assert row["storefront_record"].startswith("gid://shopify/ProductVariant/")
        assert row["erp_record"] == item.sku.removeprefix("SKU-").lstrip("0")


async def test_text_leads_with_the_summary_and_names_the_worst(store: TriageStore) -> None:
    catalog = GeneratedCatalog(8_000, seed=13)
    result = await run_drift(catalog, store, T0)
    text = render_text(result, worst=3)
    lines = text.splitlines()
    assert lines[0].startswith("Drift check · sandbox:8000:13")
    assert f"Compared     {result.compared:,} SKUs" in text
    assert f"Flagged      {len(result.flagged):,} · new {len(result.flagged):,}" in text
    assert all(i.sku in text for i in result.worst(3))
    assert result.flagged[3].sku not in text


def test_oos_drift_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv_path = tmp_path / "drift.csv"
    argv = ["drift", "--sandbox", "--size", "4000", "--seed", "13", "--json"]
    assert main([*argv, "--csv", str(csv_path), "--db", str(tmp_path / "a.db")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {
        "run_id",
        "scope",
        "ran_at",
        "previous_run_at",
        "storefront",
        "erp",
        "measure",
        "threshold",
        "compared",
        "counts",
        "flagged",
        "resolved",
        "unverified",
        "not_compared",
    } <= set(data)
    assert (data["scope"], data["storefront"], data["erp"]) == (
        "sandbox:4000:13",
        "shopify",
        "netsuite",
    )
    assert set(data["counts"]) == {"compared", "flagged", "new", "open", "resolved"}
    assert data["counts"]["flagged"] == len(data["flagged"]) > 0
    assert set(data["flagged"][0]) == {
        "sku",
        "storefront",
        "erp",
        "gap",
        "status",
        "first_seen",
        "last_seen",
        "days_open",
        "storefront_record",
        "erp_record",
    }
    assert set(data["not_compared"]) == {
        "storefront_only",
        "erp_only",
        "untracked",
        "duplicate_skus",
    }
    assert len(csv_path.read_text().splitlines()) == 1 + len(data["flagged"]) + len(
        data["resolved"]
    )

    assert main([*argv, "--db", str(tmp_path / "a.db")]) == 0  # the same day again
    again = json.loads(capsys.readouterr().out)
    assert again["counts"]["open"] == data["counts"]["flagged"]
    assert again["previous_run_at"] == data["ran_at"]


def test_oos_drift_text_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "b.db")]
    assert main(["drift", "--sandbox", "--size", "2000", *db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Drift check · sandbox:2000:7")

    assert main(["drift", "--sandbox", "--size", "0", *db]) == 2
    assert "--size" in capsys.readouterr().err
    assert main(["drift", "--sandbox", "--csv", str(tmp_path / "no" / "x.csv"), *db]) == 2
    assert "no directory" in capsys.readouterr().err
    assert main(["drift", "--config", str(tmp_path / "missing.toml"), *db]) == 2
    assert "cannot read it" in capsys.readouterr().err
