"""The ``[tickets]`` table of the stack config: which ticket system, where, whose credentials
(environment variable NAMES only), who gets which verdict, and the escalation policies.

```toml
[tickets]
system = "jira"                                   # or "servicenow"
base_url = "https://your-domain.atlassian.net"
credentials = { email = "JIRA_EMAIL", api_token = "JIRA_API_TOKEN" }
auto_open = "policy"        # policy | it_owners | never
recurrence = "reopen"       # reopen | link
resolve_on_slack = true     # Mark resolved in Slack resolves the ticket

[tickets.routes.erp_admin]
project = "ERP"             # Jira project key       (ServiceNow: assignment_group = "ERP Support")
component = "NetSuite"      # Jira component, optional
assignee = "5b10a2844c20165700ede21g"   # Jira account id, optional
slack_group = "S0ERPADMINS" # Slack user group mentioned in the thread, optional
```

Every owner of the cause taxonomy needs a route (a governance decision goes to the ops
manager's, not IT's); a Jira route needs a project.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.tree import Owner

OWNERS: tuple[Owner, ...] = get_args(Owner)
_SLACK_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")

AutoOpen = Literal["policy", "it_owners", "never"]
Recurrence = Literal["reopen", "link"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Route(_Strict):
    """Where one owner's tickets go."""

    project: str | None = Field(None, description="Jira project key")
    component: str | None = Field(None, description="Jira component name")
    assignee: str | None = Field(None, description="Jira account id")
    assignment_group: str | None = Field(None, description="ServiceNow group: sys_id or name")
    slack_group: str | None = Field(None, description="Slack user group id to mention (S…)")

    @field_validator("slack_group")
    @classmethod
    def _group_id(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_GROUP.match(value):
            raise ValueError("must be a Slack user group id like S0123ABCD (not a @handle)")
        return value


class OutboxPolicy(_Strict):
    """How a ticket that cannot be written now is retried."""

    first_retry_seconds: float = Field(30.0, gt=0)
    max_retry_seconds: float = Field(1800.0, gt=0)
    drain_every_seconds: float = Field(30.0, gt=0, description="oos serve's outbox pass")


class TicketsConfig(_Strict):
    system: Literal["jira", "servicenow"]
    base_url: str
    credentials: dict[str, str] = Field(
        description="credential role → NAME of the environment variable holding it"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="system-specific settings")
    routes: dict[Owner, Route]
    auto_open: AutoOpen = Field(
        "policy",
        description=(
            "policy: confirmed Layer 4 or hop causes owned by IT (DESIGN §2.4); it_owners: any "
            "confirmed cause the ERP or integration admin owns; never: always offer the button"
        ),
    )
    recurrence: Recurrence = Field(
        "reopen", description="a cause whose ticket was resolved comes back: reopen it, or link"
    )
    resolve_on_slack: bool = Field(True, description="Mark resolved also resolves the ticket")
    outbox: OutboxPolicy = OutboxPolicy()

    @field_validator("credentials")
    @classmethod
    def _names_not_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        # The stack config's own check. Imported here, not at the top: bot.config imports this
        # module for its [tickets] table.
        from bot.config import env_var_names

        return env_var_names(value, example="JIRA_API_TOKEN")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be a URL like https://your-domain.atlassian.net")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _every_owner_routed(self) -> TicketsConfig:
        missing = [owner for owner in OWNERS if owner not in self.routes]
        if missing:
            raise ValueError(
                f"routes.{missing[0]} is missing: every owner needs a route ({', '.join(OWNERS)})"
            )
        if self.system == "jira":
            for owner, route in self.routes.items():
                if not route.project:
                    raise ValueError(f"routes.{owner}.project is required for Jira")
        return self
