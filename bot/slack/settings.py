"""Settings for the Slack app, read from the environment (secrets live nowhere else).

Standard Slack variables (``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``,
``SLACK_API_URL``), ``PORT``, and access control (``OOS_ALLOWED_*`` for ``/oos``,
``OOS_ACTION_*`` for the buttons that change state). Lists are comma- or space-separated Slack
ids; an empty list means "no restriction".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

DEFAULT_API_URL = "https://slack.com/api/"


class SettingsError(ValueError):
    """The environment cannot configure the app; the message names the variables, never values."""


def _ids(raw: str | None) -> frozenset[str]:
    return frozenset(part for part in re.split(r"[\s,]+", raw or "") if part)


class AccessPolicy(BaseModel):
    """Who may run ``/oos`` where, and who may press the buttons that change state.

    ``channels`` applies to everything. ``users``/``usergroups`` admit a user to ``/oos`` and
    Re-run; both empty admits everyone. ``action_users``/``action_usergroups`` admit a user to
    Mark resolved and Open ticket; both empty falls back to the ``/oos`` rule.
    """

    model_config = ConfigDict(frozen=True)

    channels: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    usergroups: frozenset[str] = frozenset()
    action_users: frozenset[str] = frozenset()
    action_usergroups: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AccessPolicy:
        return cls(
            channels=_ids(env.get("OOS_ALLOWED_CHANNELS")),
            users=_ids(env.get("OOS_ALLOWED_USERS")),
            usergroups=_ids(env.get("OOS_ALLOWED_USERGROUPS")),
            action_users=_ids(env.get("OOS_ACTION_USERS")),
            action_usergroups=_ids(env.get("OOS_ACTION_USERGROUPS")),
        )

    def merged(self, other: AccessPolicy) -> AccessPolicy:
        """Both sources' ids together (the environment's and the stack config's): each list
        admits whom either names, and stays empty — no restriction — only if both are."""
        return AccessPolicy(
            channels=self.channels | other.channels,
            users=self.users | other.users,
            usergroups=self.usergroups | other.usergroups,
            action_users=self.action_users | other.action_users,
            action_usergroups=self.action_usergroups | other.action_usergroups,
        )

    @property
    def anyone_may_change_state(self) -> bool:
        """Mark resolved and Open ticket are open to every member of an allowed channel."""
        return not (self.action_users or self.action_usergroups or self.users or self.usergroups)

    def describe(self) -> str:
        """The effective policy in one line, for the startup log."""

        def who(users: frozenset[str], groups: frozenset[str]) -> str | None:
            named = [*sorted(users), *(f"group {g}" for g in sorted(groups))]
            return ", ".join(named) if named else None

        where = ", ".join(sorted(self.channels)) if self.channels else "any channel"
        runs = who(self.users, self.usergroups) or "anyone"
        acts = who(self.action_users, self.action_usergroups) or f"the same ({runs})"
        return f"/oos in {where} by {runs}; Mark resolved / Open ticket by {acts}"


class SlackSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    bot_token: SecretStr = Field(description="SLACK_BOT_TOKEN (xoxb-…)")
    signing_secret: SecretStr | None = Field(None, description="SLACK_SIGNING_SECRET (HTTP mode)")
    app_token: SecretStr | None = Field(None, description="SLACK_APP_TOKEN (xapp-…): Socket Mode")
    api_url: str = Field(DEFAULT_API_URL, description="SLACK_API_URL: Web API base URL")
    host: str = Field("0.0.0.0", description="OOS_HOST: address the HTTP server binds")
    port: int = Field(3000, ge=0, le=65535, description="PORT: HTTP port")
    triage_timeout: float = Field(
        120.0, gt=0, description="OOS_TRIAGE_TIMEOUT: seconds before a triage ends as failed"
    )
    rate_limit_deadline: float = Field(
        600.0,
        ge=0,
        description="OOS_SLACK_RATE_LIMIT_DEADLINE: seconds of Retry-After one Web API call waits out",
    )
    posts_per_second: float = Field(
        1.0, gt=0, description="OOS_SLACK_POSTS_PER_SECOND: pace of posts in one channel"
    )
    edits_per_minute: float = Field(
        45.0, gt=0, description="OOS_SLACK_EDITS_PER_MINUTE: pace of chat.update, workspace-wide"
    )
    access: AccessPolicy = AccessPolicy()

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        # slack_sdk joins base_url + method name, so the trailing slash matters.
        return value if value.endswith("/") else value + "/"

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackSettings:
        """Read the settings; raise ``SettingsError`` naming what is missing or malformed."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        missing = [] if get("SLACK_BOT_TOKEN") else ["SLACK_BOT_TOKEN"]
        if not get("SLACK_APP_TOKEN") and not get("SLACK_SIGNING_SECRET"):
            missing.append("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)")
        if missing:
            raise SettingsError(f"set {' and '.join(missing)} in the environment")
        values: dict[str, object] = {
            "bot_token": get("SLACK_BOT_TOKEN"),
            "signing_secret": get("SLACK_SIGNING_SECRET"),
            "app_token": get("SLACK_APP_TOKEN"),
            "access": AccessPolicy.from_env(env),
        }
        for field, name in (
            ("api_url", "SLACK_API_URL"),
            ("host", "OOS_HOST"),
            ("port", "PORT"),
            ("triage_timeout", "OOS_TRIAGE_TIMEOUT"),
            ("rate_limit_deadline", "OOS_SLACK_RATE_LIMIT_DEADLINE"),
            ("posts_per_second", "OOS_SLACK_POSTS_PER_SECOND"),
            ("edits_per_minute", "OOS_SLACK_EDITS_PER_MINUTE"),
        ):
            if get(name) is not None:
                values[field] = get(name)
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            names = {
                "bot_token": "SLACK_BOT_TOKEN",
                "signing_secret": "SLACK_SIGNING_SECRET",
                "app_token": "SLACK_APP_TOKEN",
                "api_url": "SLACK_API_URL",
                "host": "OOS_HOST",
                "port": "PORT",
                "triage_timeout": "OOS_TRIAGE_TIMEOUT",
                "rate_limit_deadline": "OOS_SLACK_RATE_LIMIT_DEADLINE",
                "posts_per_second": "OOS_SLACK_POSTS_PER_SECOND",
                "edits_per_minute": "OOS_SLACK_EDITS_PER_MINUTE",
            }
            problems = "; ".join(
                f"{names.get(str(e['loc'][0]), str(e['loc'][0]))}: {e['msg']}" for e in exc.errors()
            )
            raise SettingsError(f"invalid Slack settings: {problems}") from None
        if settings.app_token and not settings.app_token.get_secret_value().startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN must be an app-level token (it starts with xapp-)")
        return settings
