"""``oos check-config``: one line per capability over the vendor emulators, the Jira and
ServiceNow emulators, the fake Slack and the fake OpenAI server — ok when the capability is
there, otherwise the missing permission and its fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.check_config import Endpoints, check_config
from bot.cli import main
from bot.config import StackConfig, load_config
from bot.discover import discover, partial_config, render
from bot.live import SystemCheck
from bot.sandbox_stack import SandboxSystems, sandbox_systems
from tests.agent.fake_openai import FakeOpenAI
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack
from tools.models import ErpSnapshot
from tools.sandbox.emulators import servicenow as sn_emulator
from tools.sandbox.emulators.jira import JiraEmulator
from tools.sandbox.emulators.netsuite import NetSuiteEmulator
from tools.sandbox.emulators.servicenow import ServiceNowEmulator
from tools.sandbox.emulators.shopify import ShopifyEmulator

NO_SLACK_NO_MODEL: dict[str, str] = {}


@pytest.fixture
def systems(monkeypatch: pytest.MonkeyPatch) -> SandboxSystems:
    found = sandbox_systems()
    for name, secret in found.environ.items():
        monkeypatch.setenv(name, secret)
    return found


async def _config(systems: SandboxSystems, tmp_path: Path, **changes: Any) -> StackConfig:
    """What ``oos discover`` prints for the sandbox, loaded as ``oos check-config`` loads it."""
    data = {**systems.partial, **changes}
    partial = partial_config(tmp_path / "partial.toml", data)
    path = tmp_path / "stack.toml"
    path.write_text(render(partial, await discover(partial, transports=systems.transports)))
    return load_config(path)


def _by_key(lines: list[SystemCheck]) -> dict[str, SystemCheck]:
    return {line.key: line for line in lines}


async def _check(
    systems: SandboxSystems,
    config: StackConfig,
    environ: dict[str, str] | None = None,
    **endpoints: Any,
) -> dict[str, SystemCheck]:
    ends = Endpoints(
        transports=systems.transports, tickets=endpoints.pop("tickets", systems.jira), **endpoints
    )
    return _by_key(await check_config(config, endpoints=ends, environ=environ or NO_SLACK_NO_MODEL))


def test_check_config_sandbox_shows_success(
    systems: SandboxSystems, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in systems.environ.items():  # what --sandbox exports, restored afterwards
        monkeypatch.setenv(name, value)
    assert main(["check-config", "--sandbox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("ok  ") for line in lines), lines
    keys = [line.split()[1] for line in lines]
    for key in (
        "storefront",
        "storefront:scopes",
        "marketplace:amazon:marketplace",
        "middleware:flows",
        "erp:item",
        "erp:listeners",
        "tickets:auth",
        "tickets:project:OOS",
        "slack:auth",
        "slack:scopes",
        "model",
    ):
        assert key in keys


async def test_every_capability_of_the_discovered_config(
    systems: SandboxSystems, tmp_path: Path
) -> None:
    lines = await _check(systems, await _config(systems, tmp_path))
    assert all(line.ok for key, line in lines.items() if not key.startswith(("slack", "model")))
    erp_statements = [k for k in lines if k.startswith("erp:")]
    assert erp_statements == [
        "erp:item",
        "erp:transactions",
        "erp:last_update",
        "erp:listeners",
        "erp:employee",
        "erp:role",
        "erp:listener_scripts",
    ]
    assert "Customization > SuiteScript (View)" in lines["erp:listeners"].message
    # No Slack token, no model key in this environment: said, not failed (both are optional
    # for the CLI).
    slack = lines["slack:auth"]
    assert slack.ok and slack.warning and "SLACK_BOT_TOKEN is not set" in slack.message
    assert lines["model"].ok and lines["model"].warning


async def test_a_missing_shopify_scope_is_named_with_its_fix(
    systems: SandboxSystems, tmp_path: Path
) -> None:
    config = await _config(systems, tmp_path)
    shop = systems.transports["storefront"]
    assert isinstance(shop, ShopifyEmulator)
    shop.scopes = ["read_products", "read_inventory"]
    line = (await _check(systems, config))["storefront:scopes"]
    assert not line.ok
    assert "missing access scope read_locations" in line.message
    assert "Admin API access scopes" in line.message


async def test_a_marketplace_the_seller_does_not_sell_in(
    systems: SandboxSystems, tmp_path: Path
) -> None:
    market = dict(systems.partial["marketplaces"][0])
    market["options"] = {**market["options"], "marketplace_id": "A2EUQ1WTGCTBG2"}
    config = await _config(systems, tmp_path, marketplaces=[market])
    line = (await _check(systems, config))["marketplace:amazon:marketplace"]
    assert not line.ok
    assert "does not sell in A2EUQ1WTGCTBG2; it sells in ATVPDKIKX0DER (Amazon.com)" in line.message


async def test_a_denied_netsuite_table_is_a_warning_and_the_rest_answer(
    systems: SandboxSystems, tmp_path: Path
) -> None:
    config = await _config(systems, tmp_path)
    erp = systems.netsuite.snapshots[0]
    assert isinstance(erp, ErpSnapshot)
    systems.transports["erp"] = NetSuiteEmulator(
        [erp], config=systems.netsuite.config, denied_tables=["rolepermissions"]
    )
    lines = await _check(systems, config)
    assert lines["erp:role"].warning and "denied (no permission)" in lines["erp:role"].message
    assert all(lines[k].ok and not lines[k].warning for k in ("erp:item", "erp:listeners"))


@pytest.mark.parametrize(
    ("emulator", "says"),
    [
        (
            JiraEmulator(projects={"OOS": set()}, denied={"OOS": {"CREATE_ATTACHMENTS"}}),
            "the user lacks CREATE_ATTACHMENTS in OOS: grant them in the project's permission scheme",
        ),
        (
            JiraEmulator(projects={"OOS": set()}, issue_types=("Bug", "Story")),
            "issue type 'Task' is not in OOS (it has Bug, Story): set [tickets] options.issue_type",
        ),
        (
            JiraEmulator(projects={"OTHER": set()}),
            "project OOS not found, or the user lacks Browse projects in it",
        ),
    ],
    ids=["permission", "issue type", "project"],
)
async def test_jira_project_issue_type_and_permissions(
    systems: SandboxSystems, tmp_path: Path, emulator: JiraEmulator, says: str
) -> None:
    config = await _config(systems, tmp_path)
    lines = await _check(systems, config, tickets=emulator)
    assert lines["tickets:auth"].ok
    assert not lines["tickets:project:OOS"].ok
    assert says in lines["tickets:project:OOS"].message


async def test_jira_refusing_the_token(
    systems: SandboxSystems, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = await _config(systems, tmp_path)
    monkeypatch.setenv("OOS_SANDBOX_JIRA_API_TOKEN", "a-token-jira-never-issued")
    line = (await _check(systems, config))["tickets:auth"]
    assert not line.ok and "refused our credentials" in line.message
    assert "a-token-jira-never-issued" not in line.message


async def test_servicenow_incident_table(
    systems: SandboxSystems, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SN_USER", sn_emulator.DEFAULT_USER)
    monkeypatch.setenv("SN_PASSWORD", sn_emulator.DEFAULT_PASSWORD)
    owners = systems.partial["tickets"]["routes"]
    tickets = {
        "system": "servicenow",
        "base_url": sn_emulator.DEFAULT_INSTANCE,
        "credentials": {"username": "SN_USER", "password": "SN_PASSWORD"},
        "routes": {owner: {"assignment_group": "Integration Support"} for owner in owners},
    }
    config = await _config(systems, tmp_path, tickets=tickets)
    lines = await _check(systems, config, tickets=ServiceNowEmulator())
    assert lines["tickets:table"].ok
    monkeypatch.setenv("SN_PASSWORD", "wrong")
    lines = await _check(systems, config, tickets=ServiceNowEmulator())
    assert not lines["tickets:auth"].ok


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.stop()


async def test_slack_auth_and_scopes_from_the_fake_web_api(
    systems: SandboxSystems, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    config = await _config(systems, tmp_path)
    environ = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake_slack.api_url}
    lines = await _check(systems, config, environ)
    assert lines["slack:auth"].ok and lines["slack:scopes"].ok
    assert fake_slack.methods() == ["auth.test"]

    fake_slack.scopes = ["commands", "chat:write", "app_mentions:read"]
    lines = await _check(systems, config, environ)
    assert not lines["slack:scopes"].ok
    assert "missing bot scope files:write" in lines["slack:scopes"].message

    fake_slack.scopes = ["commands", "chat:write", "app_mentions:read", "files:write"]
    lines = await _check(systems, config, environ)
    assert lines["slack:scopes"].ok and lines["slack:scopes"].warning  # usergroups:read optional

    lines = await _check(systems, config, {**environ, "SLACK_BOT_TOKEN": "xoxb-wrong"})
    assert not lines["slack:auth"].ok and "invalid_auth" in lines["slack:auth"].message


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


async def test_the_model_endpoint_lists_the_model(
    systems: SandboxSystems, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    config = await _config(systems, tmp_path)
    environ = {"OPENAI_API_KEY": fake_openai.api_key, "OPENAI_BASE_URL": fake_openai.base_url}
    line = (await _check(systems, config, environ))["model"]
    assert line.ok and not line.warning and "gpt-4o-mini served at" in line.message

    fake_openai.models = ["llama3"]
    line = (await _check(systems, config, environ))["model"]
    assert not line.ok and "gpt-4o-mini is not served at" in line.message

    line = (await _check(systems, config, {**environ, "OPENAI_API_KEY": "sk-wrong"}))["model"]
    assert not line.ok and "refused OPENAI_API_KEY (HTTP 401)" in line.message


async def test_listener_scripts_that_do_not_run_or_do_not_exist(
    systems: SandboxSystems, tmp_path: Path
) -> None:
    erp = systems.netsuite.snapshots[0]
    assert isinstance(erp, ErpSnapshot)
    config = await _config(systems, tmp_path)
    assert (await _check(systems, config))["erp:listener_scripts"].ok

    testing = erp.model_copy(
        update={"listeners": [x.model_copy(update={"active": False}) for x in erp.listeners]}
    )
    systems.transports["erp"] = NetSuiteEmulator([testing], config=systems.netsuite.config)
    line = (await _check(systems, config))["erp:listener_scripts"]
    assert line.ok and line.warning and "is not deployed and RELEASED" in line.message

    data = dict(systems.partial)
    data["erp"] = {
        **data["erp"],
        "options": {
            **data["erp"]["options"],
            "listener_scripts": {"customscript_gone": "inventory_update"},
        },
    }
    config = await _config(systems, tmp_path, erp=data["erp"])
    line = (await _check(systems, config))["erp:listener_scripts"]
    assert not line.ok and "no deployment of customscript_gone" in line.message


async def test_a_disabled_celigo_flow_is_a_warning(systems: SandboxSystems, tmp_path: Path) -> None:
    config = await _config(systems, tmp_path)
    configured = set(config.middleware.options["flows"])
    for flow in systems.celigo.account.flows:
        if flow["_id"] in configured:
            flow["disabled"] = True
            break
    line = (await _check(systems, config))["middleware:flows"]
    assert line.ok and line.warning and "is disabled in integrator.io" in line.message
