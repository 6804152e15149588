"""NetSuite settings and the wire constants every NetSuite module shares: the SuiteQL endpoint,
its paging limits, the time format, the item-type and transaction-type codes."""

from __future__ import annotations

import re
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.erp.netsuite_auth import TbaEnv
from tools.models import EventKind

SYSTEM = "netsuite"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
ENDPOINT = f"POST {SUITEQL_PATH}"
MAX_PAGE_SIZE = 1000
MAX_RESULTS = 100_000
TIME_FORMAT = "YYYY-MM-DD HH24:MI:SS"
PY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_]+$")
_TYPE_CODE = re.compile(r"^[A-Za-z]+$")
SALES_TYPES = ("CustInvc", "CashSale")
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

ItemType = Literal["inventory", "non_inventory", "service", "kit", "other"]
TransactionKind = Literal["sale", "receipt", "adjustment", "transfer", "return", "fulfilment"]
ApprovalStatus = Literal["posted", "pending_approval", "rejected"]

ITEM_TYPES: dict[str, ItemType] = {
    "InvtPart": "inventory",
    "Assembly": "inventory",
    "NonInvtPart": "non_inventory",
    "Service": "service",
    "Kit": "kit",
}
TRANSACTION_KINDS: dict[str, TransactionKind] = {
    "InvAdjst": "adjustment",
    "InvWksht": "adjustment",
    "InvCount": "adjustment",
    "ItemRcpt": "receipt",
    "ItemShip": "fulfilment",
    "CashSale": "sale",
    "CustInvc": "sale",
    "SalesOrd": "sale",
    "InvTrnfr": "transfer",
    "TrnfrOrd": "transfer",
    "RtnAuth": "return",
    "CustCred": "return",
    "CashRfnd": "return",
}
PERMISSION_LEVELS = {"none": 0, "view": 1, "create": 2, "edit": 3, "full": 4}
CREATE_LEVEL = 2


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _identifier(value: str) -> str:
    value = value.strip().lower()
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a NetSuite field, record or script id ([a-z0-9_])")
    return value


class TriggerRuleRecord(_Config):
    """A custom record holding minimum-change trigger rules (one row per rule)."""

    record: str = "customrecord_oos_trigger_rule"
    min_delta: str = "custrecord_oos_min_delta"

    _ids = field_validator("record", "min_delta")(_identifier)


class WebhookLogRecord(_Config):
    """A custom record the inventory RESTlet writes one row to per inbound call."""

    record: str = "customrecord_oos_webhook_log"
    sku: str = "custrecord_oos_sku"
    status_code: str = "custrecord_oos_status_code"
    message: str = "custrecord_oos_message"
    source_id: str = "custrecord_oos_source_id"

    _ids = field_validator("record", "sku", "status_code", "message", "source_id")(_identifier)


class OutboundEventRecord(_Config):
    """A custom record a user event script writes one row to per event it sends out."""

    record: str = "customrecord_oos_outbound_event"
    kind: str = "custrecord_oos_kind"
    sku: str = "custrecord_oos_sku"
    target: str = "custrecord_oos_target"

    _ids = field_validator("record", "kind", "sku", "target")(_identifier)


class NetSuiteConfig(_Config):
    """One NetSuite account as the stack config describes it. No credential values: only the
    names of the environment variables that hold them."""

    account_id: str = Field(description="e.g. 1234567 or 1234567_SB1 (the TBA realm)")
    base_url: str | None = Field(
        None, description="default https://{account}.suitetalk.api.netsuite.com"
    )
    restlet_base_url: str | None = Field(
        None, description="default https://{account}.restlets.api.netsuite.com"
    )
    consumer_key_env: str = "NETSUITE_CONSUMER_KEY"
    consumer_secret_env: str = "NETSUITE_CONSUMER_SECRET"
    token_id_env: str = "NETSUITE_TOKEN_ID"
    token_secret_env: str = "NETSUITE_TOKEN_SECRET"
    timezone: str = Field("UTC", description="the integration user's time-zone preference")
    timeout_seconds: float = Field(20.0, gt=0)
    page_size: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    concurrency: int = Field(5, ge=1, description="the account's concurrency limit to respect")
    do_not_stock_field: str | None = None
    available_to_fulfil_field: str | None = None
    origin_field: str | None = None
    listener_scripts: dict[str, EventKind] = {}
    integration_user: str | None = Field(None, description="the employee's entity id")
    integration_role: str | None = Field(None, description="the token's role, by name")
    inventory_permissions: tuple[str, ...] = ("TRAN_INVADJST",)
    sales_types: tuple[str, ...] = Field(
        SALES_TYPES, description="transaction types whose inventory-affecting lines are sales"
    )
    trigger_rule_record: TriggerRuleRecord | None = None
    webhook_log_record: WebhookLogRecord | None = None
    outbound_event_record: OutboundEventRecord | None = None

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT.match(value):
            raise ValueError("account id is letters, digits and '_' (e.g. 1234567_SB1)")
        return value.upper()

    @field_validator("do_not_stock_field", "available_to_fulfil_field", "origin_field")
    @classmethod
    def _field_id(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value)

    @field_validator("sales_types")
    @classmethod
    def _sales_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(_TYPE_CODE.match(v) for v in value):
            raise ValueError("sales_types names transaction type codes, e.g. CustInvc, CashSale")
        return value

    @field_validator("listener_scripts")
    @classmethod
    def _script_ids(cls, value: dict[str, EventKind]) -> dict[str, EventKind]:
        return {_identifier(k): v for k, v in value.items()}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def host_account(self) -> str:
        return self.account_id.lower().replace("_", "-")

    @property
    def suitetalk_url(self) -> str:
        return self.base_url or f"https://{self.host_account}.suitetalk.api.netsuite.com"

    @property
    def restlet_url(self) -> str:
        return self.restlet_base_url or f"https://{self.host_account}.restlets.api.netsuite.com"

    @property
    def env(self) -> TbaEnv:
        return TbaEnv(
            self.consumer_key_env,
            self.consumer_secret_env,
            self.token_id_env,
            self.token_secret_env,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
