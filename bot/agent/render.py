"""The agent's part of a report in words: the one line a person sees when it could not help."""

from __future__ import annotations

from bot.report import AgentRun


def status_line(run: AgentRun | None) -> str | None:
    """The line saying why there is no (or only a partial) explanation; None when all went well."""
    if run is None or not run.reason:
        return None
    if run.status == "budget_exhausted" and run.summary is not None:
        return f"The explanation is partial: {run.reason}."
    return f"No explanation: {run.reason}. The verdict is the rules engine's alone."


def off_line(reason: str) -> str:
    """Said once when the agent is off: the bot works as before, without explanations."""
    return f"The agent is off ({reason}): no explanation; the verdict is the rules engine's alone."
