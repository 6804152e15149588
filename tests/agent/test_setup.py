"""The ``[agent]`` table and when the agent is on: the key only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent.setup import open_agent
from bot.config import AgentConfig, ConfigError, load_config

STACK = """
[storefront]
vendor = "shopify"
options = { shop = "acme" }
[middleware]
vendor = "celigo"
options = { flows = {} }
[erp]
vendor = "netsuite"
options = { account_id = "1234567" }
"""


def test_the_agent_table_is_optional_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(STACK, encoding="utf-8")
    assert load_config(path).agent == AgentConfig()
    path.write_text(STACK + '[agent]\nmodel = "llama3.1"\nmax_steps = 3\n', encoding="utf-8")
    agent = load_config(path).agent
    assert (agent.model, agent.max_steps) == ("llama3.1", 3)


def test_an_api_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(STACK + '[agent]\napi_key = "sk-live-123"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.api_key: unknown key"):
        load_config(path)


@pytest.mark.parametrize(
    ("config", "env", "why"),
    [
        (AgentConfig(), {}, "OPENAI_API_KEY is not set"),
        (AgentConfig(), {"OPENAI_API_KEY": "  "}, "OPENAI_API_KEY is not set"),
        (AgentConfig(enabled=False), {"OPENAI_API_KEY": "sk-x"}, "switched off in the config"),
    ],
)
def test_off_says_why(config: AgentConfig, env: dict[str, str], why: str) -> None:
    agent, reason = open_agent(config, env)
    assert agent is None and reason is not None and why in reason


async def test_the_endpoint_comes_from_the_config_then_the_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    from_env, _ = open_agent(AgentConfig(), env)
    from_config, _ = open_agent(AgentConfig(base_url="http://127.0.0.1:8/v1"), env)
    assert from_env is not None and from_config is not None
    assert str(from_env.client.base_url).startswith("http://127.0.0.1:9/v1")
    assert str(from_config.client.base_url).startswith("http://127.0.0.1:8/v1")
    assert from_env.client.max_retries == 2 and from_env.client.timeout == 20.0
    await from_env.aclose()
    await from_config.aclose()
