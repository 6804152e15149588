"""What a NetSuite read loses when a statement is refused or a source is not configured: the
lines saying where to look instead, in a fixed order, and the parts the concurrent reads fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tools.erp.netsuite_statements import StatementFault
from tools.models import (
    ErpItem,
    ErpListener,
    IntegrationUser,
    InventoryTransaction,
    LocationQuantity,
    OutboundEvent,
    TriggerRule,
    WebhookLogEntry,
)

NOT_VISIBLE = {
    "item_flags": "item_flags: no do-not-stock / available-to-fulfil custom fields are configured for NetSuite; look on the item record (Lists > Accounting > Items) for the account's own checkboxes",
    "listeners": "listeners: no inventory listener scripts are configured for NetSuite (listener_scripts); look in Customization > Scripting > Script Deployments for the RESTlet or user event script that receives inventory updates",
    "trigger_rules": "trigger_rules: NetSuite has no standard minimum-change trigger rule; look in Customization > Workflow > Workflows and in the inventory scripts' deployment parameters (Customization > Scripting > Script Deployments)",
    "webhook_log": "webhook_log: NetSuite keeps no inbound-call log by default; look in Customization > Scripting > Script Deployments > Execution Log",
    "outbound_events": "outbound_events: NetSuite keeps no log of outbound inventory events by default; look in the Execution Log of the script that pushes inventory (Customization > Scripting > Script Deployments > Execution Log)",
    "integration_user": "integration_user: the integration's user and role are not configured for NetSuite (integration_user, integration_role); look in Setup > Users/Roles > Manage Roles and Setup > Users/Roles > User Management > View Login Audit Trail",
}
# Where to look in NetSuite when a statement the triage needs was refused.
LOOK_INSTEAD = {
    "item_flags": "look on the item record (Lists > Accounting > Items) for the account's own checkboxes",
    "transactions": "look at the item's transactions in NetSuite (Transactions > Management > Search Transactions, filtered on the item)",
    "last_update": "look at the item's latest inventory-affecting transaction in NetSuite (Transactions > Management > Search Transactions)",
    "approval_status": "look for adjustments waiting for approval in Transactions > Inventory > Adjust Inventory > List",
    "origin": "look at the transactions' source field on each transaction in NetSuite",
    "login_audit": "look in Setup > Users/Roles > User Management > View Login Audit Trail",
    **{topic: line.partition("; ")[2] for topic, line in NOT_VISIBLE.items()},
}
TOPIC_ORDER = (
    "item_flags",
    "transactions",
    "approval_status",
    "origin",
    "last_update",
    "listeners",
    "trigger_rules",
    "webhook_log",
    "outbound_events",
    "integration_user",
    "login_audit",
)


@dataclass
class ReadParts:
    """What the concurrent reads fill in, each its own field."""

    raw: dict[str, Any] = field(default_factory=dict)
    item: ErpItem | None = None
    locations: list[LocationQuantity] = field(default_factory=list)
    transactions: list[InventoryTransaction] = field(default_factory=list)
    last_update: datetime | None = None
    listeners: list[ErpListener] = field(default_factory=list)
    trigger_rules: list[TriggerRule] = field(default_factory=list)
    webhook_log: list[WebhookLogEntry] = field(default_factory=list)
    outbound_events: list[OutboundEvent] = field(default_factory=list)
    user: IntegrationUser | None = None
    not_visible: dict[str, str] = field(default_factory=dict)
    faults: list[StatementFault] = field(default_factory=list)

    def lose(self, topic: str, fault: StatementFault) -> None:
        """``topic`` is unknown because of ``fault``: said with the statement, the column, what
        it needs and where to look instead."""
        self.faults.append(fault)
        self.raw.setdefault("refused", {})[fault.statement] = fault.describe()
        self.not_visible[topic] = (
            f"{topic}: NetSuite did not show it: {fault.describe()}; it needs {fault.needs}; "
            + LOOK_INSTEAD[topic]
        )
