"""How a Web API failure is named in logs and decisions, whatever shape the response took."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (``not_in_channel``…), or ``HTTP <status>`` when the body had none."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(exc.response, 'status_code', '?')}"


def status_of(exc: SlackApiError) -> int | None:
    status = getattr(exc.response, "status_code", None)
    return status if isinstance(status, int) else None
