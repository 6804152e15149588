"""``oos check-config``: one line per capability, each proved with one read — ok, or what is
missing and how to fix it.

Per system, after ``bot.live.check_stack``'s line (reached, credentials accepted, the SKU read):

    shopify    ``storefront:scopes`` (``currentAppInstallation.accessScopes`` against the scopes
               the reads need) and ``storefront:webhooks`` (what the app can see)
    amazon     ``marketplace:<channel>:marketplace``: the configured marketplace is one the seller
               participates in (``getMarketplaceParticipations``)
    celigo     ``middleware:flows``: every configured flow is in the account, and enabled
    netsuite   ``erp:<statement>``: every SuiteQL statement a triage sends, once (refused or
               denied ones are ``bot.live``'s warnings, with what they need), and
               ``erp:listener_scripts``: each configured script deployed and RELEASED

then the ticket system (``tickets:auth``, and per routed Jira project ``tickets:project:KEY``:
found, the issue type offered, the project permissions the bot uses; ServiceNow: the incident
table readable), Slack (``slack:auth`` with ``auth.test``, ``slack:scopes`` from its
``x-oauth-scopes`` header against the manifest's bot scopes) and the model endpoint
(``model``: ``GET /models`` lists the configured model). See ``docs/vendors/`` for each fix.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import yaml

from bot.config import StackConfig, SystemConfig, systems
from bot.discover import SHOPIFY_SCOPES
from bot.live import PROBE_SKU, SystemCheck, check_stack
from bot.slack.manifest import manifest_text
from tools.clock import utc_now
from tools.erp.netsuite_queries import listeners_query
from tools.erp.netsuite_statements import needs
from tools.errors import AdapterError
from tools.marketplace.amazon_discovery import discover_amazon
from tools.middleware.celigo_discovery import discover_celigo
from tools.registry import LAYERS
from tools.retry import RetryPolicy
from tools.storefront.shopify_discovery import discover_shopify
from tools.ticketing import SYSTEMS as TICKET_SYSTEMS
from tools.ticketing.jira import JiraTickets
from tools.ticketing.servicenow import ServiceNowTickets

DEFAULT_SLACK_API = "https://slack.com/api/"
DEFAULT_MODEL_API = "https://api.openai.com/v1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Jira project permissions the bot uses: find, open, comment, attach the evidence, resolve/reopen.
JIRA_PERMISSIONS = (
    "BROWSE_PROJECTS",
    "CREATE_ISSUES",
    "ADD_COMMENTS",
    "CREATE_ATTACHMENTS",
    "TRANSITION_ISSUES",
)
_SHOPIFY_SCOPE_FIX = (
    "add them to the app's Admin API access scopes (Shopify admin → Settings → Apps and sales "
    "channels → Develop apps → the app → Configuration), reinstall it and export the new token"
)


@dataclass
class Endpoints:
    """Where the non-vendor checks go; tests and ``--sandbox`` hand in emulators."""

    slack: httpx.AsyncBaseTransport | None = None
    tickets: httpx.AsyncBaseTransport | None = None
    model: httpx.AsyncBaseTransport | None = None
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)


def manifest_scopes() -> list[str]:
    """The bot scopes ``bot/slack/manifest.yaml`` asks for."""
    manifest = yaml.safe_load(manifest_text())
    return list(manifest["oauth_config"]["scopes"]["bot"])


def _ok(key: str, vendor: str, message: str) -> SystemCheck:
    return SystemCheck(key, vendor, True, message)


def _fail(key: str, vendor: str, message: str) -> SystemCheck:
    return SystemCheck(key, vendor, False, message)


def _build(layer: str, entry: SystemConfig, transport: Any, retry: RetryPolicy | None) -> Any:
    options = dict(entry.options)
    if layer == "marketplace":
        options.setdefault("channel", getattr(entry, "channel", entry.vendor))
    return LAYERS[layer][entry.vendor](
        base_url=entry.base_url,
        credentials=entry.credentials,
        options=options,
        transport=transport,
        retry=retry,
    )


# --- per vendor --------------------------------------------------------------------------------


async def _shopify(key: str, adapter: Any, entry: SystemConfig) -> list[SystemCheck]:
    shop = await discover_shopify(adapter)
    missing = [s for s in SHOPIFY_SCOPES if s not in shop.scopes]
    scopes = (
        _fail(
            f"{key}:scopes",
            "shopify",
            f"missing access scope {', '.join(missing)}: {_SHOPIFY_SCOPE_FIX}",
        )
        if missing
        else _ok(f"{key}:scopes", "shopify", f"{', '.join(SHOPIFY_SCOPES)} granted")
    )
    hooks = _ok(
        f"{key}:webhooks",
        "shopify",
        f"{len(shop.webhooks)} webhook subscription(s) visible; a connector's own are not "
        "visible to this app, so L1.feed_fired may stay unknown (docs/vendors/shopify.md)",
    )
    return [scopes, hooks]


async def _amazon(key: str, adapter: Any, entry: SystemConfig) -> list[SystemCheck]:
    markets = await discover_amazon(adapter)
    wanted = entry.options.get("marketplace_id")
    selling = [m for m in markets if m.participating]
    hit = next((m for m in selling if m.id == wanted), None)
    if hit is None:
        listed = ", ".join(f"{m.id} ({m.name})" for m in selling) or "none"
        return [
            _fail(
                f"{key}:marketplace",
                "amazon",
                f"the seller does not sell in {wanted}; it sells in {listed}: set options.marketplace_id",
            )
        ]
    return [_ok(f"{key}:marketplace", "amazon", f"the seller sells in {hit.id} ({hit.name})")]


async def _celigo(key: str, adapter: Any, entry: SystemConfig) -> list[SystemCheck]:
    account = await discover_celigo(adapter)
    flows = {f.id: f for f in account.flows}
    configured = list(entry.options.get("flows", {}))
    gone = [f for f in configured if f not in flows]
    off = [f for f in configured if f in flows and flows[f].disabled]
    if gone:
        return [
            _fail(
                f"{key}:flows",
                "celigo",
                f"flow {', '.join(gone)} is not in the account: run `oos discover` for the ids",
            )
        ]
    if off:
        return [
            SystemCheck(
                f"{key}:flows",
                "celigo",
                True,
                f"flow {', '.join(off)} is disabled in integrator.io (a triage will say so)",
                warning=True,
            )
        ]
    return [_ok(f"{key}:flows", "celigo", f"{len(configured)} configured flow(s) found, enabled")]


async def _netsuite(
    key: str, adapter: Any, entry: SystemConfig, warned: set[str]
) -> list[SystemCheck]:
    statements = adapter.statements(PROBE_SKU, utc_now() - timedelta(hours=1))
    lines = [
        _ok(
            f"{key}:{name}",
            "netsuite",
            f"SuiteQL statement answered (it needs {needs(name, None)})",
        )
        for name in statements
        if f"{key}:{name}" not in warned
    ]
    scripts = sorted(entry.options.get("listener_scripts") or {})
    if scripts and f"{key}:listeners" not in warned:
        lines.append(await _listener_scripts(key, adapter, scripts))
    return lines


async def _listener_scripts(key: str, adapter: Any, scripts: list[str]) -> SystemCheck:
    """Each configured listener script has a deployment that runs (deployed, RELEASED)."""
    rows, _ = await adapter.suiteql(listeners_query(scripts))
    running = {
        str(r.get("script", "")).lower()
        for r in rows
        if r.get("isdeployed") in (True, "T") and str(r.get("status", "")).upper() == "RELEASED"
    }
    found = {str(r.get("script", "")).lower() for r in rows}
    absent = [s for s in scripts if s.lower() not in found]
    idle = [s for s in scripts if s.lower() in found and s.lower() not in running]
    name = f"{key}:listener_scripts"
    if absent:
        return _fail(
            name,
            "netsuite",
            f"no deployment of {', '.join(absent)}: run `oos discover` for the script ids",
        )
    if idle:
        return SystemCheck(
            name,
            "netsuite",
            True,
            f"{', '.join(idle)} is not deployed and RELEASED (TESTING runs for its owner only): a triage will say L4.listener_inactive",
            warning=True,
        )
    return _ok(name, "netsuite", f"{', '.join(scripts)} deployed and RELEASED")


_VENDOR_CHECKS: dict[str, Callable[..., Awaitable[list[SystemCheck]]]] = {
    "shopify": _shopify,
    "amazon": _amazon,
    "celigo": _celigo,
}


async def _capabilities(
    config: StackConfig,
    base: list[SystemCheck],
    transports: Mapping[str, httpx.AsyncBaseTransport],
    retry: RetryPolicy | None,
) -> dict[str, list[SystemCheck]]:
    reached = {r.key for r in base if r.ok}  # a warned system (an API version) was reached
    failed = {r.key for r in base if not r.ok}
    warned = {r.key for r in base if r.warning}

    async def one(key: str, layer: str, entry: SystemConfig) -> tuple[str, list[SystemCheck]]:
        # A marketplace the seller does not sell in fails the listing read with a bare 400:
        # the participations read (authorisation only) names the fix, so it runs anyway.
        explains = entry.vendor == "amazon" and key in failed and not entry.missing_secrets()
        if key not in reached and not explains:
            return key, []
        adapter = _build(layer, entry, transports.get(key), retry)
        try:
            if entry.vendor == "netsuite":
                return key, await _netsuite(key, adapter, entry, warned)
            check = _VENDOR_CHECKS.get(entry.vendor)
            return key, (await check(key, adapter, entry)) if check else []
        except AdapterError as exc:
            if explains:
                return key, []  # the system's own line says it already
            return key, [_fail(f"{key}:capabilities", entry.vendor, exc.describe())]
        finally:
            await adapter.aclose()

    found = await asyncio.gather(*(one(*e) for e in systems(config)))
    return dict(found)


# --- tickets, Slack, the model -------------------------------------------------------------------


async def check_tickets(
    config: StackConfig, transport: httpx.AsyncBaseTransport | None, retry: RetryPolicy | None
) -> list[SystemCheck]:
    tickets = config.tickets
    if tickets is None:
        return []
    name = tickets.system
    missing = [n for n in tickets.credentials.values() if not os.environ.get(n)]
    if missing:
        return [
            _fail(
                "tickets:auth",
                name,
                f"environment variable {', '.join(missing)} is not set: export it",
            )
        ]
    system = TICKET_SYSTEMS[name](
        base_url=tickets.base_url,
        credentials=tickets.credentials,
        options=tickets.options,
        transport=transport,
        retry=retry,
    )
    try:
        if isinstance(system, ServiceNowTickets):
            await system._http.get_json(system._table, params={"sysparm_limit": "1"})
            return [
                _ok(
                    "tickets:table",
                    name,
                    "the incident table answered (create, update, attach need the itil role)",
                )
            ]
        assert isinstance(system, JiraTickets)
        http = system._http
        me = await http.get_json("/rest/api/3/myself")
        who = me.get("emailAddress") or me.get("displayName") or me.get("accountId")
        lines = [_ok("tickets:auth", name, f"authenticated as {who}")]
        projects = sorted({r.project for r in tickets.routes.values() if r.project})
        for project in projects:
            lines.append(await _jira_project(http, project, system.issue_type))
        return lines
    except AdapterError as exc:
        fix = "check the credentials and base_url" if exc.kind == "auth" else "see the message"
        return [_fail("tickets:auth", name, f"{exc.describe()}: {fix}")]
    finally:
        await system.aclose()


async def _jira_project(http: Any, project: str, issue_type: str) -> SystemCheck:
    key = f"tickets:project:{project}"
    try:
        doc = await http.get_json(f"/rest/api/3/project/{project}")
    except AdapterError as exc:
        if exc.kind == "not_found":
            return _fail(
                key, "jira", f"project {project} not found, or the user lacks Browse projects in it"
            )
        raise
    types = [t.get("name") for t in doc.get("issueTypes", []) if isinstance(t, dict)]
    if issue_type not in types:
        return _fail(
            key,
            "jira",
            f"issue type {issue_type!r} is not in {project} (it has {', '.join(map(str, types))}): set [tickets] options.issue_type",
        )
    body = await http.get_json(
        "/rest/api/3/mypermissions",
        params={"projectKey": project, "permissions": ",".join(JIRA_PERMISSIONS)},
    )
    held = body.get("permissions", {}) if isinstance(body, dict) else {}
    lacking = [p for p in JIRA_PERMISSIONS if not held.get(p, {}).get("havePermission")]
    if lacking:
        return _fail(
            key,
            "jira",
            f"the user lacks {', '.join(lacking)} in {project}: grant them in the project's permission scheme",
        )
    return _ok(
        key,
        "jira",
        f"{project} found, issue type {issue_type} offered, {', '.join(JIRA_PERMISSIONS)} held",
    )


async def check_slack(
    environ: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> list[SystemCheck]:
    token = environ.get("SLACK_BOT_TOKEN")
    if not token:
        # The CLI works without Slack; `oos serve` refuses to start without the token.
        return [
            SystemCheck(
                "slack:auth",
                "slack",
                True,
                "SLACK_BOT_TOKEN is not set: oos serve needs it (OAuth & Permissions → Bot User OAuth Token)",
                warning=True,
            )
        ]
    base = (environ.get("SLACK_API_URL") or DEFAULT_SLACK_API).rstrip("/") + "/"
    async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport) as client:
        try:
            response = await client.post(
                base + "auth.test", headers={"Authorization": f"Bearer {token}"}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return [
                _fail(
                    "slack:auth",
                    "slack",
                    f"{base} did not answer auth.test ({type(exc).__name__}): check SLACK_API_URL",
                )
            ]
    if not isinstance(body, dict) or not body.get("ok"):
        error = body.get("error") if isinstance(body, dict) else None
        return [
            _fail(
                "slack:auth",
                "slack",
                f"auth.test refused the token ({error or response.status_code}): reinstall the app and export its Bot User OAuth Token",
            )
        ]
    lines = [
        _ok("slack:auth", "slack", f"workspace {body.get('team')}, bot user {body.get('user_id')}")
    ]
    header = response.headers.get("x-oauth-scopes")
    if header is None:
        lines.append(
            SystemCheck(
                "slack:scopes",
                "slack",
                True,
                "the API sent no x-oauth-scopes header: scopes not checked",
                warning=True,
            )
        )
        return lines
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in manifest_scopes() if s not in granted]
    optional = {"usergroups:read"}  # only with OOS_ALLOWED_USERGROUPS / OOS_ACTION_USERGROUPS
    needed = [s for s in missing if s not in optional]
    if needed:
        lines.append(
            _fail(
                "slack:scopes",
                "slack",
                f"missing bot scope {', '.join(needed)}: add it under OAuth & Permissions (or re-create the app from `oos manifest`) and reinstall",
            )
        )
    elif missing:
        lines.append(
            SystemCheck(
                "slack:scopes",
                "slack",
                True,
                "usergroups:read not granted: only OOS_ALLOWED_USERGROUPS / OOS_ACTION_USERGROUPS need it",
                warning=True,
            )
        )
    else:
        lines.append(_ok("slack:scopes", "slack", f"{', '.join(sorted(granted))} granted"))
    return lines


async def check_model(
    config: StackConfig, environ: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> list[SystemCheck]:
    agent = config.agent
    if not agent.enabled:
        return [_ok("model", "openai", "the agent is switched off ([agent] enabled = false)")]
    key = environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        return [
            SystemCheck(
                "model",
                "openai",
                True,
                "OPENAI_API_KEY is not set: the agent is off, triage works without it",
                warning=True,
            )
        ]
    base = (agent.base_url or environ.get("OPENAI_BASE_URL") or DEFAULT_MODEL_API).rstrip("/")
    async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport) as client:
        try:
            response = await client.get(
                f"{base}/models", headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.HTTPError as exc:
            return [
                _fail(
                    "model",
                    "openai",
                    f"{base} did not answer GET /models ({type(exc).__name__}): check [agent] base_url / OPENAI_BASE_URL",
                )
            ]
    if response.status_code in (401, 403):
        return [
            _fail(
                "model",
                "openai",
                f"{base} refused OPENAI_API_KEY (HTTP {response.status_code}): check the key and its project",
            )
        ]
    try:
        ids = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return [
            _fail(
                "model",
                "openai",
                f"{base}/models did not answer a model list (HTTP {response.status_code}): check the endpoint",
            )
        ]
    if agent.model not in ids:
        return [
            _fail(
                "model",
                "openai",
                f"{agent.model} is not served at {base}: set [agent] model to one it lists",
            )
        ]
    return [_ok("model", "openai", f"{agent.model} served at {base}")]


# --- all together ---------------------------------------------------------------------------------


async def check_config(
    config: StackConfig,
    *,
    endpoints: Endpoints | None = None,
    environ: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> list[SystemCheck]:
    """Every line ``oos check-config`` prints, in walk order, then tickets, Slack, the model."""
    ends = endpoints or Endpoints()
    env = os.environ if environ is None else environ
    base = await check_stack(config, transports=ends.transports, retry=retry)
    extra, tickets, slack, model = await asyncio.gather(
        _capabilities(config, base, ends.transports, retry),
        check_tickets(config, ends.tickets, retry),
        check_slack(env, ends.slack),
        check_model(config, env, ends.model),
    )
    lines: list[SystemCheck] = []
    for result in base:
        if result.key == "tickets":
            continue  # the tickets lines below say it
        lines.append(result)
        lines.extend(extra.pop(result.key, []))
    return [*lines, *tickets, *slack, *model]
