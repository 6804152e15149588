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

from bot.settings import Thresholds

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class ConfigError(ValueError):
    """The stack config cannot be used; the message names the file, the key and the fix."""


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
        for role, name in value.items():
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"credentials.{role} must name an environment variable (like SHOPIFY_TOKEN), "
                    "not hold a secret: secrets live only in the environment"
                )
        return value

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


class StackConfig(_Strict):
    name: str = "stack"
    storefront: SystemConfig
    middleware: SystemConfig
    erp: SystemConfig
    marketplaces: list[MarketplaceConfig] = []
    wms: SystemConfig | None = None
    thresholds: Thresholds = Thresholds()
    slack: SlackAccess = SlackAccess()
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
