"""Routing by owner (every owner; a governance decision goes to the ops manager, not IT), the
``[tickets]`` config table, and the auto-open policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, load_config
from bot.tickets.config import OWNERS, TicketsConfig
from bot.tickets.service import should_auto_open
from bot.tree import load_tree
from tests.tickets.conftest import (
    JIRA_ROUTES,
    SKU_BY_OWNER,
    SN_GROUPS,
    WorldFactory,
    report_for,
    tickets_config,
)
from tools.sandbox.emulators.jira import JiraEmulator
from tools.sandbox.emulators.servicenow import ServiceNowEmulator
from tools.sandbox.scenario import load_library


def test_every_owner_has_a_sandbox_sku() -> None:
    assert set(SKU_BY_OWNER) == set(OWNERS)
    for owner, sku in SKU_BY_OWNER.items():
        assert report_for(sku).escalation.owner == owner


@pytest.mark.parametrize("owner", OWNERS)
async def test_jira_routes_each_owner_to_its_project_component_and_assignee(
    make_world: WorldFactory, owner: str
) -> None:
    world = await make_world("jira")
    outcome = await world.service().open(report_for(SKU_BY_OWNER[owner]), "t1")

    assert outcome.ticket is not None and outcome.slack_group == JIRA_ROUTES[owner]["slack_group"]
    assert isinstance(world.emulator, JiraEmulator)
    fields = world.emulator.issue(outcome.ticket.key)["fields"]
    route = JIRA_ROUTES[owner]
    assert fields["project"]["key"] == route["project"]
    assert outcome.ticket.key.startswith(f"{route['project']}-")
    assert fields["components"] == ([{"name": route["component"]}] if "component" in route else [])
    expected_assignee = {"accountId": route["assignee"]} if "assignee" in route else None
    assert fields["assignee"] == expected_assignee


@pytest.mark.parametrize("owner", OWNERS)
async def test_servicenow_routes_each_owner_to_its_assignment_group(
    make_world: WorldFactory, owner: str
) -> None:
    world = await make_world("servicenow")
    outcome = await world.service().open(report_for(SKU_BY_OWNER[owner]), "t1")

    assert outcome.ticket is not None
    assert isinstance(world.emulator, ServiceNowEmulator)
    record = world.emulator.by_number(outcome.ticket.key)
    assert world.emulator.group_name(record["assignment_group"]) == SN_GROUPS[owner]


async def test_a_non_inventory_item_goes_to_the_ops_manager_not_it(
    make_world: WorldFactory,
) -> None:
    report = report_for("SKU-4104")
    assert report.verdict.cause == "L4.non_inventory_item"
    assert not should_auto_open(report, "policy")
    assert not should_auto_open(report, "it_owners")  # a governance decision, never auto

    world = await make_world("jira")
    outcome = await world.service().open(report, "t1")
    assert outcome.ticket is not None and outcome.ticket.key.startswith("OPSM-")
    assert outcome.slack_group == JIRA_ROUTES["ops_manager"]["slack_group"]


def test_auto_open_policies_over_the_whole_library() -> None:
    for sku in load_library():
        report = report_for(sku)
        v, owner = report.verdict, report.escalation.owner
        confirmed_it = v.confidence == "confirmed" and owner in ("erp_admin", "integration_admin")
        # a contributing cause (a polling window) explains timing: never a ticket by policy
        fault = v.cause is None or load_tree().causes[v.cause].weight == "primary"
        assert should_auto_open(report, "never") is False
        assert should_auto_open(report, "policy") == (
            confirmed_it and v.layer in (4, "hop") and fault
        )
        assert should_auto_open(report, "it_owners") == (confirmed_it and v.cause is not None)


def test_a_config_must_route_every_owner() -> None:
    routes = {o: {"project": "OPS"} for o in OWNERS if o != "ops_manager"}
    with pytest.raises(ValidationError, match=r"routes\.ops_manager is missing"):
        tickets_config("jira", routes=routes)


def test_a_jira_route_needs_a_project() -> None:
    routes = {o: {"project": "OPS"} for o in OWNERS} | {"erp_admin": {"component": "NetSuite"}}
    with pytest.raises(ValidationError, match=r"routes.erp_admin.project is required"):
        tickets_config("jira", routes=routes)


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            {"credentials": {"email": "JIRA_EMAIL", "api_token": "ATATT3xFfGF0-secret"}},
            "must name an environment variable",
        ),
        ({"base_url": "your-domain.atlassian.net"}, "must be a URL"),
        ({"recurrence": "ignore"}, "recurrence"),
        ({"auto_open": "always"}, "auto_open"),
    ],
)
def test_bad_config_is_refused_with_the_key(override: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        tickets_config("jira", **override)


def test_a_slack_group_must_be_an_id() -> None:
    routes = {o: {"project": "OPS"} for o in OWNERS} | {
        "erp_admin": {"project": "ERP", "slack_group": "@erp-admins"}
    }
    with pytest.raises(ValidationError, match="user group id"):
        tickets_config("jira", routes=routes)


STACK = """
[storefront]
vendor = "shopify"
options = { shop = "acme" }
[middleware]
vendor = "celigo"
options = { flows = {} }
[erp]
vendor = "netsuite"
options = { account_id = "1234567" }

[tickets]
system = "servicenow"
base_url = "https://acme.service-now.com/"
credentials = { token = "SERVICENOW_TOKEN" }
recurrence = "link"
auto_open = "it_owners"
options = { close_code = "Resolved by change" }
"""


def test_the_stack_config_reads_the_tickets_table(tmp_path: Path) -> None:
    routes = "".join(
        f'\n[tickets.routes.{o}]\nassignment_group = "{SN_GROUPS[o]}"\n' for o in OWNERS
    )
    path = tmp_path / "stack.toml"
    path.write_text(STACK + routes)

    config = load_config(path)

    assert isinstance(config.tickets, TicketsConfig)
    assert config.tickets.base_url == "https://acme.service-now.com"
    assert config.tickets.routes["ops_manager"].assignment_group == "Operations Management"
    assert (config.tickets.recurrence, config.tickets.auto_open) == ("link", "it_owners")


def test_the_stack_config_names_the_bad_tickets_key(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(STACK)  # no routes
    with pytest.raises(ConfigError, match="tickets"):
        load_config(path)
