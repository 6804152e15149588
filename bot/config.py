"""The stack config (TOML): which systems are connected, where, and which environment
variables hold their credentials. Secrets never live in this file: a credential entry names an
environment variable, and a value that does not look like one is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.monitor.scan import DriftSettings
from bot.monitor.schedule import Cron, ScheduleError, zone
from bot.settings import Thresholds
from bot.slack.settings import AccessPolicy
from bot.tickets.config import TicketsConfig
from tools import redact
from tools.registry import LAYERS
from tools.vendors import VendorConfigError, first_error, suggest, validate_entry

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
    """The ``[slack]`` table. Each list adds to its ``OOS_ALLOWED_*`` / ``OOS_ACTION_*``
    environment variable (``policy``); a list empty in both means no restriction."""

    allowed_channels: list[str] = []
    allowed_users: list[str] = []
    allowed_user_groups: list[str] = []
    admin_users: list[str] = Field(
        default_factory=list, description="may press buttons that change state"
    )
    admin_user_groups: list[str] = Field(
        default_factory=list, description="user groups whose members may press them"
    )

    def policy(self, env: Mapping[str, str]) -> AccessPolicy:
        """The effective access policy: this table's ids and the environment's, merged."""
        table = AccessPolicy(
            channels=frozenset(self.allowed_channels),
            users=frozenset(self.allowed_users),
            usergroups=frozenset(self.allowed_user_groups),
            action_users=frozenset(self.admin_users),
            action_usergroups=frozenset(self.admin_user_groups),
        )
        return AccessPolicy.from_env(env).merged(table)


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


STACK_SYSTEMS = ("storefront", "marketplaces", "middleware", "erp")
"""What a triage reads; ``require_env`` takes these, plus ``"tickets"``."""


def systems(config: StackConfig) -> list[tuple[str, str, SystemConfig]]:
    """(key, layer, entry) for every connected system, in walk order; a marketplace's key is
    ``marketplace:<channel>``."""
    entries: list[tuple[str, str, SystemConfig]] = [("storefront", "storefront", config.storefront)]
    entries += [(f"marketplace:{m.channel}", "marketplace", m) for m in config.marketplaces]
    entries += [("middleware", "middleware", config.middleware), ("erp", "erp", config.erp)]
    return entries


def missing_env(
    config: StackConfig, only: Collection[str] = (*STACK_SYSTEMS, "tickets")
) -> dict[str, list[str]]:
    """System key → the credential variables it names that the environment does not set.
    ``only`` picks systems by key (``marketplaces`` stands for all of them)."""
    wanted = set(only)
    found: dict[str, list[str]] = {}
    for key, layer, entry in systems(config):
        group = "marketplaces" if layer == "marketplace" else key
        if (group in wanted or key in wanted) and (missing := entry.missing_secrets()):
            found[key] = missing
    if config.tickets is not None and "tickets" in wanted:
        names = list(config.tickets.credentials.values())
        if missing := [n for n in names if not os.environ.get(n)]:
            found["tickets"] = missing
    return found


def require_env(
    config: StackConfig, source: Path | str, only: Collection[str] = (*STACK_SYSTEMS, "tickets")
) -> None:
    """Raise ``ConfigError`` (one line naming every unset variable) before any call is made;
    then register every credential the config names as a secret (``register_credentials``)."""
    missing = missing_env(config, only)
    if missing:
        listed = "; ".join(f"{key}: {', '.join(names)}" for key, names in missing.items())
        raise ConfigError(
            f"{source}: credential variables not set ({listed}); export them or put them in "
            f"./.env (`oos check-config {source}` lists every system's)"
        )
    register_credentials(config)


# Credential roles that name an account rather than prove it: masking them would blank out
# ordinary words (an email address, a user name) without protecting anything.
_NOT_SECRET_ROLES = frozenset({"email", "username", "user", "client_id"})


def register_credentials(config: StackConfig) -> None:
    """Every credential value the config names, registered with the redactor before any
    client is built: an echo of it is masked in every output, whichever client met it."""
    entries = [entry.credentials for _key, _layer, entry in systems(config)]
    if config.tickets is not None:
        entries.append(config.tickets.credentials)
    for credentials in entries:
        for role, name in credentials.items():
            if role not in _NOT_SECRET_ROLES and (value := os.environ.get(name)):
                redact.register(value)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _field_names(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a table at ``loc`` (one level under ``model``) accepts, for "did you mean"."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(str(part))
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        known = _field_names(StackConfig, loc[:-1])
        return f"{_where(loc)}: unknown key ({suggest(str(loc[-1]), known)})"
    if error["type"] == "missing":
        return f"{_where(loc)}: required, and missing"
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
    return f"{_where(loc) or 'the file'}: {error['msg']}{shown}"


def _vendor_checked(config: StackConfig, path: Path) -> StackConfig:
    """Each system's options and credential roles read by its vendor's model (``tools.vendors``):
    coerced values, default credential variables filled in."""

    def check(key: str, layer: str, entry: SystemConfig) -> dict[str, Any]:
        try:
            options, credentials = validate_entry(
                entry.vendor, layer, list(LAYERS[layer]), entry.options, entry.credentials
            )
        except VendorConfigError as exc:
            where = key.replace("marketplace:", "marketplaces.")
            raise ConfigError(f"{path}: {where}.{exc}") from None
        return {"options": options, "credentials": credentials}

    update: dict[str, Any] = {}
    marketplaces = []
    for key, layer, entry in systems(config):
        fixed = entry.model_copy(update=check(key, layer, entry))
        if layer == "marketplace":
            marketplaces.append(fixed)
        else:
            update[key] = fixed
    update["marketplaces"] = marketplaces
    return config.model_copy(update=update)


def load_config(path: Path) -> StackConfig:
    """The stack config at ``path``, validated whole (each vendor's options included);
    ``ConfigError`` names the file, the key and what is wrong in one line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(first_error(exc))}") from None
    return _vendor_checked(config, path)
