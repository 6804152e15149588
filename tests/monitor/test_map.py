"""The trigger-chain map: each hop classified event / poll / batch with its interval and the
lag observed, drawn as a PNG (decoded here: size and mode, no pixel asserts), and ``oos map``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.monitor.latency import HopLag, LatencyReading
from bot.monitor.map import HEIGHT, WIDTH, Systems, build_map, render_png, render_text
from tools.models import FlowHealth, Source

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
SRC = Source(system="celigo", endpoint="test")
SYSTEMS = Systems(
    storefront="shopify",
    middleware="celigo",
    erp="netsuite",
    marketplaces=[("amazon", "amazon-sp-api"), ("ebay", "ebay")],
    wms="shipbob",
)


def flow(fid: str, hop: str, trigger: str = "event", **fields: object) -> FlowHealth:
    values: dict[str, object] = {
        "source": SRC,
        "read_at": NOW,
        "flow_id": fid,
        "name": fid,
        "hop": hop,
        "trigger": trigger,
        "window_start": NOW - timedelta(days=1),
    }
    values.update(fields)
    return FlowHealth.model_validate(values)


FLOWS = [
    flow("sf-erp", "storefront_to_erp"),
    flow("sf-erp-nightly", "storefront_to_erp", "batch", interval_minutes=1440),
    flow("erp-sf", "erp_to_storefront", "poll", interval_minutes=15),
    flow("amz", "storefront_to_marketplace", "poll", interval_minutes=30, channel="amazon"),
    flow(
        "amz-old",
        "storefront_to_marketplace",
        "batch",
        interval_minutes=60,
        channel="amazon",
        status="disabled",
    ),
    flow("orders", None),  # not an inventory flow: not on the map
]
READING = LatencyReading(
    observed_at=NOW,
    lags=[
        HopLag(
            hop="storefront_to_marketplace",
            channel="amazon",
            lag_minutes=42,
            since=NOW - timedelta(minutes=42),
            detail="x",
        )
    ],
    covered=["storefront_to_marketplace:amazon", "erp_to_storefront"],
)


def test_each_hop_is_classified_with_its_interval_and_lag() -> None:
    m = build_map(SYSTEMS, FLOWS, READING, now=NOW, name="acme")
    hops = {h.key: h for h in m.hops}
    assert list(hops) == [
        "storefront_to_erp",
        "erp_to_storefront",
        "storefront_to_marketplace:amazon",
        "storefront_to_marketplace:ebay",
        "wms_to_erp",
    ]
    sf_erp = hops["storefront_to_erp"]
    # Two active flows carry it: the slowest (a nightly batch) bounds its lag.
    assert (sf_erp.trigger, sf_erp.interval_minutes, sf_erp.status) == ("batch", 1440, "active")
    assert sf_erp.flows == ["sf-erp", "sf-erp-nightly"] and not sf_erp.observed
    assert sf_erp.lag_words() == "lag not observed"

    back = hops["erp_to_storefront"]
    assert (back.trigger, back.interval_minutes) == ("poll", 15)
    assert back.observed and back.lag_minutes is None and back.lag_words() == "in step"

    amazon = hops["storefront_to_marketplace:amazon"]
    assert (amazon.trigger, amazon.interval_minutes, amazon.status) == ("poll", 30, "active")
    assert amazon.lag_over and amazon.lag_words() == "lag 42 min"
    assert (amazon.source, amazon.target) == ("Shopify", "Amazon")

    ebay = hops["storefront_to_marketplace:ebay"]
    assert not ebay.via_connector and ebay.trigger == "unknown"
    assert ebay.trigger_words() == "not via the connector"

    wms = hops["wms_to_erp"]
    assert (wms.source, wms.trigger, wms.trigger_words()) == (
        "Shipbob",
        "batch",
        "batch · interval unknown",
    )


def test_a_hop_whose_flows_all_stopped_says_so() -> None:
    down = [
        flow(
            "amz",
            "storefront_to_marketplace",
            "poll",
            interval_minutes=30,
            channel="amazon",
            status="suspended",
            status_reason="token revoked",
        )
    ]
    m = build_map(SYSTEMS.model_copy(update={"wms": None}), down, None, now=NOW)
    amazon = next(h for h in m.hops if h.channel == "amazon")
    assert (amazon.status, amazon.status_reason) == ("suspended", "token revoked")
    assert amazon.lag_words() == "SUSPENDED"
    assert all(h.hop != "wms_to_erp" for h in m.hops), "no WMS configured, no WMS flow"
    assert "SUSPENDED: token revoked" in render_text(m)


@pytest.mark.parametrize("marketplaces", [0, 1, 5])
def test_the_png_decodes(marketplaces: int) -> None:
    systems = SYSTEMS.model_copy(
        update={"marketplaces": [(f"ch{i}", "walmart") for i in range(marketplaces)]}
    )
    m = build_map(systems, FLOWS, READING, now=NOW, notes=["the connector could not be read"])
    png = render_png(m)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT) and image.mode == "RGB"
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 5, "not a blank canvas"


def test_oos_map_writes_the_png_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "chain.png"
    args = ["map", "--sandbox", "--size", "500", "--out", str(out), "--json"]
    assert main([*args, "--db", str(tmp_path / "t.db")]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {h["hop"] for h in m["hops"]} == {
        "storefront_to_erp",
        "erp_to_storefront",
        "storefront_to_marketplace",
        "wms_to_erp",
    }
    assert all(h["trigger"] in ("event", "poll", "batch") for h in m["hops"])
    assert Image.open(out).size == (WIDTH, HEIGHT)


def test_oos_map_refuses_a_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nowhere" / "map.png"
    assert main(["map", "--sandbox", "--size", "500", "--out", str(out)]) == 2
    assert "no directory" in capsys.readouterr().err
