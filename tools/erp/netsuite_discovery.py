"""What ``oos discover`` reads from a NetSuite account: locations and script deployments.

Two read-only SuiteQL statements, through the adapter's client (TBA, concurrency slots, paging):

    locations     ``SELECT id, name, isinactive FROM location``: the internal ids the
                  ``[drift] erp_locations`` list and a Celigo location lookup use. The
                  ``location`` table and these columns are in every public SuiteQL location
                  query found; ``../shared/specs`` does not list them (unverified there).
    deployments   ``scriptdeployment`` ⋈ ``script`` for RESTlets and user-event scripts, the two
                  kinds an integration listens through: deployment ``scriptid`` / ``title`` /
                  ``status`` (RELEASED, TESTING: runs for the owner only) / ``isdeployed``, and
                  the script's ``scriptid`` and ``scripttype`` (VERIFIED-2026-12 §6d; the
                  deployment's own id is ``primarykey``, not ``id``).

Which deployment listens for inventory is a guess from its ids and title ("inv", "stock",
"quantity", "item"): NetSuite does not say what a script does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.erp.netsuite import NetSuiteErp

LOCATIONS_QUERY = "SELECT id, name, isinactive FROM location ORDER BY id"
DEPLOYMENTS_QUERY = (
    "SELECT scriptdeployment.primarykey AS id, scriptdeployment.scriptid,"
    " scriptdeployment.title, scriptdeployment.status, scriptdeployment.isdeployed,"
    " script.scriptid AS script, script.scripttype"
    " FROM scriptdeployment JOIN script ON script.id = scriptdeployment.script"
    " WHERE script.scripttype IN ('RESTLET', 'USEREVENT') ORDER BY scriptdeployment.primarykey"
)
_INVENTORY_WORDS = re.compile(r"inv|stock|quantit|qty|item", re.I)


@dataclass(frozen=True)
class NetSuiteLocation:
    id: str
    name: str
    inactive: bool


@dataclass(frozen=True)
class NetSuiteDeployment:
    id: str  # the deployment's internal id (primarykey)
    deployment: str  # customdeploy_…
    title: str
    script: str  # customscript_…
    script_type: str  # RESTLET / USEREVENT
    status: str  # RELEASED / TESTING
    deployed: bool

    @property
    def runs(self) -> bool:
        """Deployed and released: TESTING runs only for the script's owner."""
        return self.deployed and self.status.upper() == "RELEASED"

    @property
    def looks_like_inventory(self) -> bool:
        return bool(_INVENTORY_WORDS.search(f"{self.script} {self.deployment} {self.title}"))


@dataclass(frozen=True)
class NetSuiteAccount:
    locations: list[NetSuiteLocation]
    deployments: list[NetSuiteDeployment]


def _flag(value: object) -> bool:
    return value is True or value == "T"


async def discover_netsuite(adapter: NetSuiteErp) -> NetSuiteAccount:
    locations, _ = await adapter.suiteql(LOCATIONS_QUERY)
    deployments, _ = await adapter.suiteql(DEPLOYMENTS_QUERY)
    return NetSuiteAccount(
        locations=[
            NetSuiteLocation(
                id=str(row.get("id", "")),
                name=str(row.get("name", "")),
                inactive=_flag(row.get("isinactive")),
            )
            for row in locations
        ],
        deployments=[
            NetSuiteDeployment(
                id=str(row.get("id", "")),
                deployment=str(row.get("scriptid", "")),
                title=str(row.get("title", "")),
                script=str(row.get("script", "")),
                script_type=str(row.get("scripttype", "")),
                status=str(row.get("status", "")),
                deployed=_flag(row.get("isdeployed")),
            )
            for row in deployments
        ],
    )
