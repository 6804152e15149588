"""`oos record` and `oos triage --replay`: a triage recorded against the vendor emulators (a stack
config pointed at them, as in test_live) replays to the identical report, with credentials and
personal data kept out of the case file."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.case import (
    CaseError,
    comparable,
    masked_report,
    read_case,
    record_case,
    replay_case,
    replays_identically,
    write_case,
)
from bot.cli import main
from tests.test_live import SKU, _scenario, _stack
from tools.recording import Masker

SECRETS = (
    "SHOPIFY_ADMIN_TOKEN",
    "SP_API_CLIENT_SECRET",
    "SP_API_REFRESH_TOKEN",
    "CELIGO_API_TOKEN",
    "NETSUITE_CONSUMER_SECRET",
    "NETSUITE_TOKEN_SECRET",
)
MOMENT = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


async def _recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    config, transports = _stack(monkeypatch)
    case, report = await record_case(SKU, config, transports=transports, clock=lambda: MOMENT)
    assert report.verdict.cause == _scenario().expected.cause
    path = tmp_path / "case.yaml"
    write_case(case, path)
    secrets = {name: os.environ[name] for name in SECRETS}
    return path, secrets


async def test_a_recorded_case_replays_to_the_identical_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, _ = await _recorded(monkeypatch, tmp_path)
    case = read_case(path)
    assert {e.system for e in case.exchanges} == {
        "storefront",
        "marketplace:amazon",
        "middleware",
        "erp",
    }
    assert (case.expected.pattern, case.expected.cause, case.expected.confirmed) == (
        _scenario().expected.pattern,
        _scenario().expected.cause,
        False,
    )
    replayed = await replay_case(case)
    assert replays_identically(case, replayed)
    assert comparable(masked_report(replayed, Masker())) == comparable(case.report)
    assert all(system.ok for system in replayed.systems)


async def test_replay_needs_no_network_and_no_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, secrets = await _recorded(monkeypatch, tmp_path)
    for name in secrets:
        monkeypatch.delenv(name)
    replayed = await replay_case(read_case(path))
    assert replayed.verdict.cause == _scenario().expected.cause


async def test_the_case_file_holds_no_credential(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, secrets = await _recorded(monkeypatch, tmp_path)
    text = path.read_text()
    assert secrets and all(len(v) >= 4 for v in secrets.values())
    for name, value in secrets.items():
        assert value not in text, name
    assert "shpat_" not in text and "Atza|" not in text
    assert "authorization" not in text.lower()  # request headers are never kept


def test_personal_data_is_masked_the_same_way_everywhere() -> None:
    masker = Masker()
    text = masker.text(
        "changed by ops@acme.example.com from 203.0.113.77; ops@acme.example.com again"
    )
    assert "ops@acme.example.com" not in text and "203.0.113.77" not in text
    first, second = [w for w in text.split() if "@" in w]
    assert first.rstrip(";") == second and first.endswith("@example.invalid")
    assert masker.text(text) == text  # masking twice changes nothing


async def test_a_missing_answer_fails_that_system_as_unreachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, _ = await _recorded(monkeypatch, tmp_path)
    case = read_case(path)
    kept = [e for e in case.exchanges if e.system != "middleware"]
    replayed = await replay_case(case.model_copy(update={"exchanges": kept}))
    (middleware,) = [s for s in replayed.systems if s.key == "middleware"]
    assert (middleware.ok, middleware.error_kind) == (False, "unreachable")
    assert not replays_identically(case, replayed)


def test_cli_replays_a_case_and_refuses_another_sku(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = asyncio.run(_recorded(monkeypatch, tmp_path))
    code = main(["triage", SKU, "--replay", str(path), "--json", "--no-save", "--no-agent"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert comparable(report) != {}  # a whole report
    assert report["verdict"]["cause"] == _scenario().expected.cause
    assert main(["triage", "SKU-OTHER", "--replay", str(path), "--no-save"]) == 2
    assert "records SKU-3101, not SKU-OTHER" in capsys.readouterr().err


def test_a_file_that_is_not_a_case_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sku: SKU-1\n")
    with pytest.raises(CaseError, match="not an oos case file"):
        read_case(bad)


class _Router(httpx.AsyncBaseTransport):
    """Stands in for the network: each emulator answers the hosts it serves."""

    def __init__(self, transports: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.by_host = {
            "oos-sandbox.myshopify.com": transports["storefront"],
            "api.integrator.io": transports["middleware"],
        }
        self.transports = transports

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.by_host:
            return await self.by_host[host].handle_async_request(request)
        if "netsuite" in host:
            return await self.transports["erp"].handle_async_request(request)
        return await self.transports["marketplace:amazon"].handle_async_request(request)


def test_record_command_writes_the_case(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, transports = _stack(monkeypatch)
    router = _Router(dict(transports))
    monkeypatch.setattr("bot.cli.load_config", lambda _path: config)
    monkeypatch.setattr("bot.case.httpx.AsyncHTTPTransport", lambda: router)
    out = tmp_path / "case.yaml"
    code = main(["record", SKU, "--config", "stack.toml", "--out", str(out)])
    assert code == 0
    case = read_case(out)
    assert case.sku == SKU and {e.system for e in case.exchanges} == {
        "storefront",
        "marketplace:amazon",
        "middleware",
        "erp",
    }
    err = capsys.readouterr().err
    assert f"saved {out}" in err and "confirm the expected block" in err
    assert (
        main(["record", SKU, "--config", "stack.toml", "--out", str(tmp_path / "no" / "c.yaml")])
        == 2
    )
    assert "the case was not saved" in capsys.readouterr().err
