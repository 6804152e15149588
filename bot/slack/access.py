"""Access control for ``/oos`` and the buttons that change state.

Channel and user-id rules are decided without I/O, so a refusal can ride on the ack itself.
User-group rules need ``usergroups.users.list`` (scope ``usergroups:read``); memberships are
cached for a few minutes so a busy channel does not hit Slack's rate limits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import slack_error
from bot.slack.settings import AccessPolicy

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, in words fit for the person who made it."""

    reason: str


class AccessControl:
    def __init__(
        self,
        policy: AccessPolicy,
        client: AsyncWebClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = GROUP_CACHE_SECONDS,
    ) -> None:
        self.policy = policy
        self._client = client
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def _rule(self, *, change: bool) -> tuple[frozenset[str], frozenset[str]]:
        p = self.policy
        if change and (p.action_users or p.action_usergroups):
            return p.action_users, p.action_usergroups
        return p.users, p.usergroups

    def quick_refusal(
        self, user: str, channel: str | None, *, change: bool = False
    ) -> Refusal | None:
        """A refusal decided without calling Slack, or None (which is not yet an admission
        when user groups are configured: ``check`` decides that)."""
        p = self.policy
        if p.channels and channel not in p.channels:
            return Refusal(
                "`/oos` is not enabled in this channel. Ask an admin to add it to "
                "OOS_ALLOWED_CHANNELS, or use a channel where it is enabled."
            )
        users, groups = self._rule(change=change)
        if (users or groups) and user not in users and not groups:
            return self._user_refusal(change)
        return None

    def _user_refusal(self, change: bool) -> Refusal:
        what = "this action" if change else "`/oos`"
        return Refusal(
            f"You are not allowed to use {what} here. Ask an admin to add you (or your user group) "
            "to the allowed list."
        )

    async def check(
        self, user: str, channel: str | None, *, change: bool = False
    ) -> Refusal | None:
        """None when ``user`` may do this in ``channel``; otherwise the refusal."""
        quick = self.quick_refusal(user, channel, change=change)
        if quick is not None:
            return quick
        users, groups = self._rule(change=change)
        if not (users or groups) or user in users:
            return None
        for group in sorted(groups):
            members = await self._members(group)
            if members is None:
                return Refusal(
                    "I could not check your user-group membership (the app may lack the "
                    "usergroups:read scope). Ask an admin to check the configuration."
                )
            if user in members:
                return None
        return self._user_refusal(change)

    async def _members(self, group: str) -> frozenset[str] | None:
        cached = self._groups.get(group)
        now = self._clock()
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            log.warning("usergroups.users.list failed for %s: %s", group, slack_error(exc))
            return None
        members = frozenset(response.get("users") or [])
        self._groups[group] = (now, members)
        return members
