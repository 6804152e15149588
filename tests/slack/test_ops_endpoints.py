"""``oos serve`` as an operator sees it: ``/metrics`` (parsed with prometheus-client's own
parser) after a real triage over signed requests, ``/readyz`` (store, Slack, each system's last
call), JSON log lines that carry the triage id from the Slack request to every vendor call, and
timestamps on every text line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.compose import sandbox_target
from bot.logs import configured
from bot.metrics import Metrics
from bot.slack.ops import Readiness
from bot.slack.server import serve
from bot.slack.settings import AccessPolicy, SlackSettings
from bot.store import TriageStore
from tests.slack.conftest import CAUSE, SIGNING_SECRET, SKU, sign
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack


@dataclass
class Running:
    base: str
    session: aiohttp.ClientSession
    fake: FakeSlack

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.base + path) as resp:
            return resp.status, await resp.text()

    async def triage(self, sku: str = SKU) -> None:
        body = urllib.parse.urlencode(
            {
                "team_id": "T1",
                "channel_id": "C1",
                "user_id": "U1",
                "command": "/oos",
                "text": sku,
                "response_url": self.fake.response_url("r1"),
                "trigger_id": "t",
                "api_app_id": "A1",
            }
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with self.session.post(self.base + "/slack/events", data=body, headers=headers) as r:
            assert r.status == 200
        await self.fake.wait_for(
            lambda: any(CAUSE in str(m.blocks) + m.text for m in self.fake.messages.values()),
            "the verdict",
            timeout=30,
        )


@pytest.fixture
async def running(
    fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Running]:
    caplog.set_level(logging.INFO, logger="bot")
    settings = SlackSettings(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_url=fake_slack.api_url,
        host="127.0.0.1",
        port=0,
        access=AccessPolicy(action_users=frozenset({"U1"})),
    )
    stop = asyncio.Event()
    store = TriageStore(tmp_path / "t.db")
    task = asyncio.create_task(serve(settings, store=store, resolve=sandbox_target, stop=stop))
    url = await fake_slack.wait_for(
        lambda: next(
            (
                m.group(1)
                for r in caplog.records
                if (m := re.search(r"listening on (http://\S+)/slack/events", r.getMessage()))
            ),
            None,
        ),
        "the startup line",
    )
    session = aiohttp.ClientSession()
    try:
        yield Running(url, session, fake_slack)
    finally:
        await session.close()
        stop.set()
        assert await task == 0
        store.close()


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_metrics_parse_and_count_a_triage_and_its_vendor_calls(running: Running) -> None:
    await running.triage()
    status, text = await running.get("/metrics")
    assert status == 200
    samples = _samples(text)
    (labels, count), *_ = [s for s in samples["oos_triages_total"] if s[1] > 0]
    assert labels == {
        "pattern": "all_channels_oos_erp_stock",
        "cause": CAUSE,
        "confidence": "confirmed",
    }
    assert count == 1
    assert dict(samples["oos_triage_seconds_count"][0][0]) == {}
    assert samples["oos_triage_seconds_count"][0][1] == 1
    vendors = {labels["vendor"] for labels, n in samples["oos_vendor_calls_total"] if n > 0}
    assert {"shopify", "celigo", "netsuite"} <= vendors
    assert {lab["vendor"] for lab, _ in samples["oos_vendor_call_seconds_count"]} >= vendors
    for name in ("oos_slack_rate_limited_total", "oos_agent_cost_usd_total"):
        assert name in samples or name.removesuffix("_total") in text


async def test_readyz_reports_store_slack_and_each_systems_last_call(running: Running) -> None:
    status, body = await running.get("/readyz")
    assert status == 200
    state = json.loads(body)
    assert (state["ready"], state["store"], state["slack"]) == (True, "ok", "ok")
    await running.triage()
    state = json.loads((await running.get("/readyz"))[1])
    shopify = state["systems"]["shopify"]
    assert shopify["ok"] is True and shopify["status"] == 200 and shopify["seconds_ago"] >= 0
    assert (await running.get("/healthz")) == (200, "ok")


async def test_readyz_is_503_when_the_store_cannot_write_or_slack_refuses(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    store = TriageStore(tmp_path / "t.db")
    from slack_sdk.web.async_client import AsyncWebClient

    good = Readiness(store, fake_slack.client(), Metrics())
    assert (await good.state())[0] is True
    refused = Readiness(
        store, AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url), Metrics()
    )
    ready, state = await refused.state()
    assert ready is False and "refused the bot token" in state["slack"]
    store.close()
    ready, state = await good.state()
    assert ready is False and state["store"] != "ok"


async def test_json_logs_carry_the_triage_id_from_the_request_to_every_vendor_call(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured(logging.INFO, "json"):
        await running.triage()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    calls = [entry for entry in lines if entry["logger"] == "bot.calls"]
    assert len(calls) >= 3
    ids = {entry.get("triage_id") for entry in calls}
    assert len(ids) == 1 and None not in ids
    assert {entry["sku"] for entry in calls} == {SKU}
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", e["ts"]) for e in lines)


def test_the_cli_logs_json_and_text_with_timestamps(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["-v", "--log-format", "json", "triage", SKU, "--sandbox", "--no-save"]) == 0
    err = capsys.readouterr().err
    entries: list[dict[str, Any]] = []
    for line in err.splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    calls = [e for e in entries if e["logger"] == "bot.calls"]
    assert calls and len({e["triage_id"] for e in calls}) == 1

    assert main(["-v", "triage", SKU, "--sandbox", "--no-save"]) == 0
    text = [line for line in capsys.readouterr().err.splitlines() if " bot.calls " in line]
    assert text and all(re.match(r"\d{4}-\d\d-\d\dT\S+ INFO bot\.calls \[triage ", t) for t in text)


def test_an_unknown_log_format_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    monkeypatch.setenv("OOS_LOG_FORMAT", "xml")
    assert main(["scenarios"]) == 2
    assert capsys.readouterr().err == "oos: OOS_LOG_FORMAT must be text or json, not 'xml'\n"
