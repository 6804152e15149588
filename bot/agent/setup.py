"""Whether the agent is on, and building it: the one place the model client is made.

Kept free of heavy imports so ``oos`` starts fast when no key is set: the ``openai`` client
is imported only when the agent is actually built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.agent.prompts import PromptsMissing, load_prompts
from bot.config import AgentConfig
from bot.privacy import Masker
from bot.settings import Thresholds
from tools import redact

if TYPE_CHECKING:
    from bot.agent.agent import Agent


def off_reason(config: AgentConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the agent is off (switched off, no key), or None when it can be built."""
    env = os.environ if environ is None else environ
    if not config.enabled:
        return "the agent is switched off in the config ([agent] enabled = false)"
    if not (env.get("OPENAI_API_KEY") or "").strip():
        return "OPENAI_API_KEY is not set"
    return None


def open_agent(
    config: AgentConfig | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    thresholds: Thresholds | None = None,
) -> tuple[Agent | None, str | None]:
    """The agent for ``config``, or None and why it is off (no key, switched off, no prompts).

    The API key comes only from ``OPENAI_API_KEY``; the endpoint from the config's
    ``base_url``, else ``OPENAI_BASE_URL``, else OpenAI's own. The client's own timeout and
    retries are set here, explicitly. Nothing connects yet.
    """
    env = os.environ if environ is None else environ
    config = config or AgentConfig()
    if (why := off_reason(config, env)) is not None:
        return None, why
    try:
        prompts = load_prompts()
    except PromptsMissing as exc:
        return None, str(exc)
    from openai import AsyncOpenAI

    from bot.agent.agent import Agent

    key = env["OPENAI_API_KEY"].strip()
    redact.register(key)  # whatever the model endpoint echoes back, the key is masked
    base_url = config.base_url or (env.get("OPENAI_BASE_URL") or "").strip() or None
    client = AsyncOpenAI(
        api_key=key,
        base_url=base_url,
        timeout=config.timeout_seconds,
        max_retries=config.max_retries,
    )
    masker = Masker(secrets=[key])
    agent = Agent(config, client, prompts=prompts, masker=masker, thresholds=thresholds)
    return agent, None
