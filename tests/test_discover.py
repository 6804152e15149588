"""``oos discover`` against the vendor emulators: the printed config loads, and ``check-config``
passes on it; what each vendor's discovery read is named in a comment; a system that fails
keeps its entry and the command says why."""

from __future__ import annotations

import gzip
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import load_config
from bot.discover import discover, partial_config, render
from bot.live import check_stack
from bot.sandbox_stack import sandbox_systems
from tools.sandbox.emulators.shopify import ShopifyEmulator
from tools.storefront.shopify_discovery import DOCUMENTS

SCHEMA_FILE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "specs"
    / "shopify"
    / "admin_schema_2025-01.json.gz"
)


def _export(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    for name, secret in environ.items():
        monkeypatch.setenv(name, secret)


async def test_the_discovered_config_passes_check_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    systems = sandbox_systems()
    _export(monkeypatch, systems.environ)
    partial = partial_config(tmp_path / "partial.toml", systems.partial)
    found = await discover(partial, transports=systems.transports)
    assert [d.error for d in found] == [None, None, None, None]

    path = tmp_path / "stack.toml"
    path.write_text(render(partial, found), encoding="utf-8")
    config = load_config(path)
    results = await check_stack(config, transports=systems.transports)
    assert [(r.key, r.ok) for r in results if not r.warning] == [
        ("storefront", True),
        ("marketplace:amazon", True),
        ("middleware", True),
        ("erp", True),
    ]
    # What was discovered is what the emulated accounts hold.
    flows = config.middleware.options["flows"]
    middleware = systems.celigo.state
    inventory = {f.id: f for f in middleware.flows if "inventory_update" in f.carries}
    assert set(flows) == set(inventory)
    for flow_id, mapping in flows.items():
        assert mapping["hop"] == inventory[flow_id].hop
        assert mapping.get("channel") == inventory[flow_id].channel
    erp = systems.netsuite.snapshots[0]
    assert set(config.erp.options["listener_scripts"]) == {
        f"customscript_{x.id.removeprefix('customdeploy_')}" for x in erp.listeners
    }
    marketplace = config.marketplaces[0].options
    assert marketplace["marketplace_id"] == systems.transports["marketplace:amazon"].marketplace_id  # type: ignore[attr-defined]


async def test_each_entry_carries_its_comment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    systems = sandbox_systems()
    _export(monkeypatch, systems.environ)
    partial = partial_config(tmp_path / "partial.toml", systems.partial)
    text = render(partial, await discover(partial, transports=systems.transports))
    erp = systems.netsuite.snapshots[0]
    for location in erp.locations:
        assert (
            f"#   {location.id if hasattr(location, 'id') else location.location_id} · {location.name}"
            in text
        )
    assert "# Integrations: int-sandbox (Sandbox store sync)" in text
    assert "· event (a listener) · shopify → netsuite · moves: inventory_update" in text
    assert "RESTLET · customscript_inv_listener · RELEASED, runs" in text
    assert "ATVPDKIKX0DER · Amazon.com · www.amazon.com · participating" in text
    assert "A2EUQ1WTGCTBG2 · Amazon.ca · www.amazon.ca · not participating" in text
    assert "Access scopes granted: read_inventory, read_locations, read_products" in text
    # No secret reaches the output, only the variables' names.
    for secret in systems.environ.values():
        assert secret not in text


async def test_what_the_partial_config_says_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    systems = sandbox_systems()
    _export(monkeypatch, systems.environ)
    data: dict[str, Any] = systems.partial
    data["middleware"]["options"]["flows"] = {
        "f-inv-01": {
            "hop": "storefront_to_erp",
            "carries": ["inventory_update"],
            "listens_for_raw": ["inventory_levels/update"],
        }
    }
    data["erp"]["options"]["listener_scripts"] = {"customscript_mine": "inventory_update"}
    data["tickets"] = {"system": "jira", "site": "https://acme.atlassian.net"}
    partial = partial_config(tmp_path / "partial.toml", data)
    parsed = tomllib.loads(render(partial, await discover(partial, transports=systems.transports)))
    assert parsed["middleware"]["options"]["flows"]["f-inv-01"]["listens_for_raw"] == [
        "inventory_levels/update"
    ]
    assert parsed["erp"]["options"]["listener_scripts"] == {"customscript_mine": "inventory_update"}
    assert parsed["tickets"] == data["tickets"]


async def test_a_system_that_refuses_keeps_its_entry_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    systems = sandbox_systems()
    _export(monkeypatch, systems.environ)
    monkeypatch.setenv("OOS_SANDBOX_CELIGO_TOKEN", "a-token-celigo-never-issued")
    partial = partial_config(tmp_path / "partial.toml", systems.partial)
    found = {d.system.key: d for d in await discover(partial, transports=systems.transports)}
    assert found["middleware"].found is None
    assert "celigo refused our credentials" in (found["middleware"].error or "")
    text = render(partial, list(found.values()))
    assert "# middleware: could not be read, kept as given: celigo refused our credentials" in text
    assert "a-token-celigo-never-issued" not in text
    assert tomllib.loads(text)["middleware"]["vendor"] == "celigo"


async def test_missing_shopify_scopes_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    systems = sandbox_systems()
    _export(monkeypatch, systems.environ)
    shop = systems.transports["storefront"]
    assert isinstance(shop, ShopifyEmulator)
    shop.scopes = ["read_products", "read_inventory"]
    partial = partial_config(tmp_path / "partial.toml", systems.partial)
    text = render(partial, await discover(partial, transports=systems.transports))
    assert "# MISSING scopes oos-triage reads with: read_locations" in text


def test_oos_discover_sandbox_prints_a_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _export(monkeypatch, sandbox_systems().environ)  # restored after the test
    assert main(["discover", "--sandbox"]) == 0
    out = capsys.readouterr().out
    parsed = tomllib.loads(out)
    assert set(parsed) >= {"storefront", "marketplaces", "middleware", "erp"}


def test_oos_discover_refuses_unset_variables_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CELIGO_API_TOKEN", raising=False)
    partial = tmp_path / "partial.toml"
    partial.write_text('[middleware]\nvendor = "celigo"\n', encoding="utf-8")
    assert main(["discover", "--config", str(partial)]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith(
        "credential variables not set (middleware: CELIGO_API_TOKEN); export them"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '[storefront]\nvendor = "shoppify"\n',
            "storefront.vendor: 'shoppify' is not a storefront vendor",
        ),
        ('[erp]\nvendor = "netsuite"\n', "erp.options.account_id is needed to reach netsuite"),
        (
            '[middleware]\nvendor = "celigo"\ncredentials = { api_token = "sk-live-123" }\n',
            "must name an environment variable",
        ),
        ('name = "x"\n', "names no system"),
    ],
)
def test_a_partial_config_that_cannot_be_used_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    partial = tmp_path / "partial.toml"
    partial.write_text(text, encoding="utf-8")
    assert main(["discover", "--config", str(partial)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_discovery_documents_validate_against_the_admin_schema(name: str) -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"the Shopify Admin schema is not beside the repo ({SCHEMA_FILE})")
    from graphql import build_client_schema, parse, validate

    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as f:
        schema = build_client_schema(json.load(f)["data"])
    schema._validation_errors = []  # the published schema fails a self-check unrelated to queries
    assert validate(schema, parse(DOCUMENTS[name])) == []


def test_oos_discover_writes_out_and_keeps_an_existing_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _export(monkeypatch, sandbox_systems().environ)
    out = tmp_path / "stack.toml"
    assert main(["discover", "--sandbox", "--out", str(out)]) == 0
    written = out.read_text(encoding="utf-8")
    assert tomllib.loads(written)["middleware"]["vendor"] == "celigo"
    assert capsys.readouterr().out == ""
    assert main(["discover", "--sandbox", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == written
    assert main(["discover", "--sandbox", "--out", str(out), "--force"]) == 0


def test_sandbox_commands_leave_the_environment_as_they_found_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = dict(os.environ)
    assert main(["discover", "--sandbox"]) == 0
    assert main(["check-config", "--sandbox"]) == 0
    capsys.readouterr()
    assert dict(os.environ) == before
