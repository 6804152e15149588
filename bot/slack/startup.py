"""What ``oos serve`` says when it starts: one line an operator can read at a glance (what it
serves, where, how Slack reaches it, whether the agent explains and why not, the schedules, the
ticket system, who may do what), and a warning when anyone may press the buttons that change
state."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.settings import AccessPolicy


@dataclass(frozen=True)
class Startup:
    mode: str  # "sandbox" or "live <stack name>"
    address: str  # the HTTP endpoint, or "Socket Mode"
    slack: str  # "@bot in Team, Web API https://…"
    agent: str  # "on (gpt-4o-mini)" or "off (OPENAI_API_KEY is not set)"
    schedules: str  # "daily_drift '0 7 * * *', … to C012 (UTC)" or "none (…)"
    tickets: str  # "jira https://…" or "none"
    access: AccessPolicy

    def line(self) -> str:
        return (
            f"oos serve: {self.mode} · {self.address} · Slack {self.slack} · agent {self.agent} · "
            f"schedules {self.schedules} · tickets {self.tickets} · access: {self.access.describe()}"
        )

    def warnings(self) -> list[str]:
        if not self.access.anyone_may_change_state:
            return []
        where = "an allowed channel" if self.access.channels else "any channel the bot is in"
        return [
            f"oos serve: anyone in {where} may press Mark resolved and Open ticket; restrict "
            "them with OOS_ACTION_USERS / OOS_ACTION_USERGROUPS or the config's [slack] "
            "admin_users / admin_user_groups"
        ]
