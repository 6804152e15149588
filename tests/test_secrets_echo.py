"""Every outbound client against a server that echoes the credentials it received (``EchoServer``):
no credential may come out anywhere — stdout, stderr with ``-v``, the log, the triage store, the
ticket outbox, a Slack message, a ticket body or the model's prompt.

The clients: Shopify, Amazon SP-API and its LWA token endpoint, Celigo, NetSuite TBA (through
``oos triage --config … -v``, a real subprocess), the model endpoint (the agent of that triage),
Jira and ServiceNow (the ticket service, then ``oos tickets retry -v``), and Slack (the retry
posts each outcome to the thread it came from). The environment variable names are chosen so
that the "named like a secret" net cannot catch them: only registering each credential can.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_config
from bot.store import TriageStore
from bot.tickets.service import TicketService
from tests.echo_server import ISSUED_ACCESS_TOKEN, LWA_PATH, EchoServer
from tests.tickets.conftest import report_for
from tools.redact import MASK

ROOT = Path(__file__).resolve().parents[1]

ENV = {
    "ACME_SHOP_A": "echo-shopify-admin-9b1c",
    "ACME_SP_ID": "amzn1.application-oa2-client.echo55",
    "ACME_SP_CS": "echo-lwa-client-secret-41d2",
    "ACME_SP_RT": "echo-lwa-refresh-token-7a0e",
    "ACME_CEL_A": "echo-celigo-bearer-77f3",
    "ACME_NS_CK": "echo-ns-consumer-key-12ab",
    "ACME_NS_CS": "echo-ns-consumer-secret-34cd",
    "ACME_NS_TI": "echo-ns-token-id-56ef",
    "ACME_NS_TS": "echo-ns-token-secret-78ab",
    "ACME_JIRA_U": "oos-bot@example.com",
    "ACME_JIRA_P": "echo-jira-api-token-31c9",
    "ACME_SN_U": "oos.bot",
    "ACME_SN_P": "echo-servicenow-pass-8d2f",
    "OPENAI_API_KEY": "sk-echo-model-key-55e1",
    "SLACK_BOT_TOKEN": "xoxb-echo-slack-bot-66a4",
}
# What no output may contain (user names and the SP-API client id are not secrets).
SECRETS = [v for k, v in ENV.items() if k not in ("ACME_JIRA_U", "ACME_SN_U", "ACME_SP_ID")] + [
    ISSUED_ACCESS_TOKEN
]

SKU = "SKU-1042"


def _stack(echo: str, tickets: str) -> str:
    return f"""
name = "echo"
[storefront]
vendor = "shopify"
base_url = "{echo}"
options = {{ shop = "acme" }}
credentials = {{ access_token = "ACME_SHOP_A" }}

[[marketplaces]]
vendor = "amazon"
channel = "amazon"
base_url = "{echo}"
credentials = {{ client_id = "ACME_SP_ID", client_secret = "ACME_SP_CS", refresh_token = "ACME_SP_RT" }}
options = {{ seller_id = "A2EXAMPLE", marketplace_id = "ATVPDKIKX0DER", region = "na", lwa_base_url = "{echo}" }}

# A second Amazon account: one of the two meets the LWA refusal, the other gets a token and
# meets the SP-API refusal.
[[marketplaces]]
vendor = "amazon"
channel = "amazon_eu"
base_url = "{echo}"
credentials = {{ client_id = "ACME_SP_ID", client_secret = "ACME_SP_CS", refresh_token = "ACME_SP_RT" }}
options = {{ seller_id = "A2EXAMPLE", marketplace_id = "A1PA6795UKMFR9", region = "eu", lwa_base_url = "{echo}" }}

[middleware]
vendor = "celigo"
base_url = "{echo}/v1"
credentials = {{ api_token = "ACME_CEL_A" }}
[middleware.options.flows.64f0c0ffee0000000000a001]
hop = "storefront_to_erp"
carries = ["inventory_update"]

[erp]
vendor = "netsuite"
base_url = "{echo}"
credentials = {{ consumer_key = "ACME_NS_CK", consumer_secret = "ACME_NS_CS", token_id = "ACME_NS_TI", token_secret = "ACME_NS_TS" }}
[erp.options]
account_id = "1234567"

[agent]
model = "gpt-4o-mini"
base_url = "{echo}/v1"
max_retries = 0

{tickets}
"""


def _tickets(system: str, echo: str) -> str:
    owners = ("ecommerce_admin", "channel_manager", "integration_admin", "erp_admin", "ops_manager")
    if system == "jira":
        head = (
            f'[tickets]\nsystem = "jira"\nbase_url = "{echo}"\n'
            'credentials = { email = "ACME_JIRA_U", api_token = "ACME_JIRA_P" }\n'
        )
        routes = "".join(f'[tickets.routes.{o}]\nproject = "OPS"\n' for o in owners)
    else:
        head = (
            f'[tickets]\nsystem = "servicenow"\nbase_url = "{echo}"\n'
            'credentials = { username = "ACME_SN_U", password = "ACME_SN_P" }\n'
        )
        routes = "".join(f'[tickets.routes.{o}]\nassignment_group = "Ops"\n' for o in owners)
    return head + routes


def _oos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "-v", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _database_text(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        return "\n".join(
            json.dumps(row, default=str)
            for table in tables
            for row in conn.execute(f"select * from {table}")
        )
    finally:
        conn.close()


@pytest.mark.parametrize("system", ["jira", "servicenow"])
def test_no_client_leaks_an_echoed_credential_anywhere(
    system: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EchoServer() as echo:
        stack = tmp_path / "stack.toml"
        stack.write_text(_stack(echo.url, _tickets(system, echo.url)))
        db = tmp_path / "triage.db"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "OOS_DB": str(db),
            **ENV,
        }

        # 1. A triage over every vendor and the model, all echoing.
        triaged = _oos(env, "triage", SKU, "--config", str(stack), "--db", str(db))
        assert triaged.returncode == 0, triaged.stderr[-2000:]
        paths = echo.paths()
        assert any(p.endswith("/graphql.json") for p in paths)  # Shopify
        assert LWA_PATH in paths  # LWA refused once, then issued a token …
        assert any(p.startswith("/fba/") or p.startswith("/listings/") for p in paths)  # SP-API
        assert any(p.startswith("/v1/") and "chat" not in p for p in paths)  # Celigo
        assert any(p.startswith("/services/rest/") for p in paths)  # NetSuite
        assert any(p.endswith("/chat/completions") for p in paths)  # the model
        # … and what they echoed reached the report, masked.
        assert MASK in triaged.stdout
        assert _leaks(triaged.stdout) == [] and _leaks(triaged.stderr) == []

        # 2. The ticket system echoes too: the action fails and waits in the outbox.
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        config = load_config(stack)
        assert config.tickets is not None
        store = TriageStore(db)
        (row,) = store.recent(limit=1)
        found = store.get(row["id"])
        store.close()
        assert found is not None
        echoed = found[1]
        # A confirmed cause (so there is a ticket to write) carrying the echo triage's
        # unverifiable checks, whose reasons quote what the vendors echoed.
        sandbox = report_for("SKU-4101")
        unknown = [c for c in echoed.checks if c.status == "unknown"]
        assert unknown
        report = sandbox.model_copy(update={"checks": [*sandbox.checks, *unknown]})

        async def open_ticket() -> str:
            service = TicketService.from_config(config.tickets, db)  # type: ignore[arg-type]
            try:
                outcome = await service.open(report, "t-echo", channel="C1", thread_ts="1.1")
            finally:
                await service.aclose()
            assert outcome.kind == "failed" and outcome.error
            return outcome.error

        error = asyncio.run(open_ticket())
        assert MASK in error and _leaks(error) == []

        # 3. `oos tickets retry -v` sends it again and posts the outcome to Slack — which echoes.
        env["SLACK_API_URL"] = f"{echo.url}/slack/api/"
        retried = _oos(env, "tickets", "retry", "--config", str(stack), "--db", str(db))
        assert retried.returncode == 1
        assert any(p.endswith("/chat.postMessage") for p in echo.paths())
        assert _leaks(retried.stdout) == [] and _leaks(retried.stderr) == []

        # 4. The store and the outbox hold no credential.
        assert _leaks(_database_text(db)) == []

        # 5. What we sent anyone — a ticket body, a Slack message, the model's prompt — carries
        #    no credential outside the headers meant for it (the LWA grant is the one body that
        #    must carry its own two).
        for received in echo.requests:
            if received.path.endswith(LWA_PATH):
                continue
            assert _leaks(received.body) == [], received.path
