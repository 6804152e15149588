"""The stack config (TOML): which systems are connected, where, and which environment
variables hold their credentials. Secrets never live in this file: a credential entry names an
environment variable, and a value that does not look like one is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.monitor.scan import DriftSettings
from bot.monitor.schedule import Cron, ScheduleError, zone
from bot.settings import Thresholds
from bot.tickets.config import TicketsConfig

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class ConfigError(ValueError):
    """The stack config cannot be used; the message names the file, the key and the fix."""


def env_var_names(credentials: dict[str, str], *, example: str) -> dict[str, str]:
    """``credentials`` (role → NAME of an environment variable) as they are, once every entry
    looks like a variable name (``example`` shows one); a value that does not — a secret pasted
    into the file — is refused."""
    for role, name in credentials.items():
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"credentials.{role} must name an environment variable (like {example}), "
                "not hold a secret: secrets live only in the environment"
            )
    return credentials


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SystemConfig(_Strict):
    """One connected system."""

    vendor: str
    base_url: str | None = Field(
        None, description="override the vendor's URL (sandbox, proxy, emulator)"
    )
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="credential role → NAME of the environment variable holding it",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="vendor-specific settings")

    @field_validator("credentials")
    @classmethod
    def _names_not_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        return env_var_names(value, example="SHOPIFY_TOKEN")

    def secret(self, role: str) -> str:
        """The credential's value from the environment; ``ConfigError`` when it is not set."""
        name = self.credentials.get(role)
        if name is None:
            raise ConfigError(f"{self.vendor}: credentials.{role} is not configured")
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{self.vendor}: environment variable {name} ({role}) is not set")
        return value

    def missing_secrets(self) -> list[str]:
        return [name for name in self.credentials.values() if not os.environ.get(name)]


class MarketplaceConfig(SystemConfig):
    channel: str


class SlackAccess(_Strict):
    allowed_channels: list[str] = []
    allowed_users: list[str] = []
    allowed_user_groups: list[str] = []
    admin_users: list[str] = Field(
        default_factory=list, description="may press buttons that change state"
    )


class AgentConfig(_Strict):
    """The ``[agent]`` table: which model explains the verdict, where, and its budgets per
    triage. The API key is read only from ``OPENAI_API_KEY``; the endpoint from ``base_url``
    here, else ``OPENAI_BASE_URL``, else OpenAI's."""

    enabled: bool = True
    model: str = "gpt-4o-mini"
    base_url: str | None = Field(
        None, description="any OpenAI-compatible endpoint: Azure OpenAI, Ollama, vLLM, a proxy"
    )
    timeout_seconds: float = Field(20.0, gt=0, description="per model request")
    max_retries: int = Field(2, ge=0, le=10, description="the client's own retries (429, 5xx)")
    max_steps: int = Field(6, ge=1, description="model calls per triage or question")
    max_tool_calls: int = Field(12, ge=0)
    max_seconds: float = Field(45.0, gt=0, description="wall time for the agent's whole run")
    max_tokens: int = Field(60_000, ge=1, description="prompt + completion tokens per run")
    max_cost_usd: float = Field(0.05, ge=0)
    max_output_tokens: int = Field(1_200, ge=64, description="per model reply")
    tool_output_chars: int = Field(6_000, ge=200, description="a tool result is cut past this")
    price_per_million_input_tokens: float = Field(0.15, ge=0, description="USD, for estimates")
    price_per_million_output_tokens: float = Field(0.60, ge=0, description="USD, for estimates")


class MonitoringConfig(_Strict):
    """The ``[monitoring]`` table: where and when the scheduled posts go. How drift compares is
    the ``[drift]`` table, the gap that flags a SKU ``[thresholds] drift_units``, the latency
    breach ``[thresholds] latency_minutes``. An empty cron switches that post off."""

    channel: str | None = Field(
        None, description="Slack channel id for scheduled posts; unset: no schedules"
    )
    timezone: str = Field("UTC", description="IANA time zone the cron expressions are read in")
    daily_drift: str = Field("0 7 * * *", description="cron: the daily drift post")
    weekly_health: str = Field("0 8 * * 1", description="cron: the weekly connector-health post")
    latency_check: str = Field("*/15 * * * *", description="cron: the sync-latency check")
    worst: int = Field(10, ge=1, le=20, description="SKUs listed (with a Triage button) per post")
    watch_skus: list[str] = Field(
        default_factory=list, description="SKUs the latency check always reads"
    )
    latency_sample: int = Field(
        25, ge=0, le=500, description="open drift SKUs the latency check reads as well"
    )
    low_stock_factor: float = Field(2.0, gt=0, description="low: under factor × daily sales")
    sell_through_days: int = Field(28, ge=1, le=365, description="days of sales averaged")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("daily_drift", "weekly_health", "latency_check")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value.strip():
            try:
                Cron(value)
            except ScheduleError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()


class StackConfig(_Strict):
    name: str = "stack"
    storefront: SystemConfig
    middleware: SystemConfig
    erp: SystemConfig
    marketplaces: list[MarketplaceConfig] = []
    wms: SystemConfig | None = None
    thresholds: Thresholds = Thresholds()
    slack: SlackAccess = SlackAccess()
    drift: DriftSettings = Field(
        default_factory=DriftSettings, description="how the drift check compares (bot/monitor)"
    )
    agent: AgentConfig = AgentConfig()
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="scheduled posts (bot/monitor)"
    )
    tickets: TicketsConfig | None = Field(
        None, description="the ticket system escalations go to (bot/tickets/config.py)"
    )
    mode: Literal["live", "sandbox"] = "live"


def load_config(path: Path) -> StackConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {loc}: {first['msg']}") from None
