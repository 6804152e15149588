"""The credentials-and-permissions pages stay in step with the code: one page per vendor the
registry knows (and per ticket system, Slack and the model), naming each default credential
variable, every bot scope of the Slack manifest, every Jira permission check-config asks for
and every NetSuite statement it runs; the README links them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.check_config import JIRA_PERMISSIONS, manifest_scopes
from bot.discover import SHOPIFY_SCOPES
from tools.erp.netsuite import NetSuiteErp
from tools.erp.netsuite_config import NetSuiteConfig, OutboundEventRecord
from tools.ticketing import SYSTEMS
from tools.vendors import SPECS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "vendors"


def _page(name: str) -> str:
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("vendor", sorted(SPECS))
def test_each_vendor_page_names_its_default_variables(vendor: str) -> None:
    page = _page(vendor)
    for variable in SPECS[vendor].credentials.values():
        assert variable in page


@pytest.mark.parametrize("name", [*sorted(SYSTEMS), "slack", "model"])
def test_the_other_systems_have_pages(name: str) -> None:
    assert "## Mint the credential" in _page(name)


def test_the_pages_say_what_check_config_asks_for() -> None:
    slack = _page("slack")
    for scope in manifest_scopes():
        assert f"`{scope}`" in slack
    jira = _page("jira")
    for permission in JIRA_PERMISSIONS:
        assert f"`{permission}`" in jira
    shopify = _page("shopify")
    for scope in SHOPIFY_SCOPES:
        assert f"`{scope}`" in shopify
    netsuite = _page("netsuite")
    config = NetSuiteConfig(
        account_id="1",
        listener_scripts={"customscript_x": "inventory_update"},
        integration_user="u",
        integration_role="r",
        outbound_event_record=OutboundEventRecord(),
    )
    statements = NetSuiteErp(config, environ={}).statements("SKU", datetime(2026, 1, 1, tzinfo=UTC))
    for name in statements:
        assert f"erp:{name}" in netsuite, name


def test_the_readme_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert "docs/vendors/README.md" in readme
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, page.name
