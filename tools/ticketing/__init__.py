"""Ticket systems: Jira Cloud and ServiceNow behind one ``TicketSystem`` protocol.

``SYSTEMS`` maps the config's ``[tickets] system`` to an adapter factory, one line each; every
factory takes ``base_url``, ``credentials`` (role → NAME of an environment variable),
``options``, and optionally a transport (emulators, tests), a retry policy and a sleep.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.ticketing.base import TicketSystem
from tools.ticketing.jira import JiraTickets
from tools.ticketing.servicenow import ServiceNowTickets

SYSTEMS: dict[str, Callable[..., TicketSystem]] = {
    "jira": JiraTickets.from_settings,
    "servicenow": ServiceNowTickets.from_settings,
}
