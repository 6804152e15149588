"""Jira Cloud (REST API v3) as a ``TicketSystem``.

Requests (all under ``{base_url}/rest/api/3``, the site URL such as
``https://your-domain.atlassian.net``):

    get       GET  /issue/{key}?fields=status,labels                           (retried)
    find      POST /search/jql        {"jql": 'labels = "oos-fp-…" ORDER BY created DESC',
                                       "fields": [...], "maxResults": 5,
                                       "reconcileIssues": [ids we know]}   (a read: retried)
    create    POST /issue             {"fields": {project, issuetype, summary, description (ADF),
                                       labels, components?, assignee?}}
    attach    POST /issue/{key}/attachments   multipart, part "file", X-Atlassian-Token: no-check
    comment   POST /issue/{key}/comment       {"body": ADF}
    resolve   GET /issue/{key}/transitions, then POST the same path {"transition": {"id": …}}
    reopen    as resolve, towards a status whose category is not "done"

Auth: HTTP Basic with the account's email and an API token, both read from the environment
variables the config names (roles ``email`` and ``api_token``) at every request, so a rotated
token is picked up without a restart. ``environ`` (a mapping of those names to values) replaces
the process environment: the sandbox hands its emulator's credentials over that way, never
through ``os.environ``. Descriptions and comments are Atlassian Document Format
(``to_adf``): v3 refuses a plain string there.

Search is eventually consistent: an issue created a moment ago may not be found by JQL yet.
``find`` passes the ids already known for the fingerprint as ``reconcileIssues`` (read-after-write
for those, up to 50), and ``search_lag_seconds`` tells the caller how long a create whose answer
was lost may stay invisible to search. ``Ticket.id`` is the issue's numeric id (what
``reconcileIssues`` takes; the paths accept it as well as the key).

A ticket is "resolved" when its status category is ``done``. The resolve and reopen
transitions are found by the category of the status they lead to, or by name when the config
says (``resolve_transition``, ``reopen_transition``), since workflows differ per project.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tools.errors import AdapterError
from tools.ratelimit import RateLimiter
from tools.retry import RetryPolicy, Sleep
from tools.ticketing.base import (
    Attachment,
    Bullets,
    Doc,
    Heading,
    Paragraph,
    Run,
    Ticket,
    TicketDraft,
    cut_note,
    fit,
)
from tools.ticketing.client import check_options, set_basic_auth, ticket_client

SYSTEM = "jira"
API = "/rest/api/3"
SUMMARY_LIMIT = 255
# Jira Cloud's limit for a rich-text field (description, comment body): 32,767 characters. It is
# measured here on the ADF document as sent (JSON), which is never shorter than its text.
TEXT_LIMIT = 32_767
RECONCILE_LIMIT = 50  # SearchAndReconcileRequestBean.reconcileIssues: "Accepts max 50 ids"
_FIND_FIELDS = ["summary", "status", "labels", "created"]


# --- Atlassian Document Format -----------------------------------------------------------------


def _text_nodes(runs: tuple[Run, ...]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for run in runs:
        if not run.text:  # ADF refuses empty text nodes
            continue
        node: dict[str, Any] = {"type": "text", "text": run.text}
        marks: list[dict[str, Any]] = []
        if run.code:
            marks.append({"type": "code"})
        elif run.bold:
            marks.append({"type": "strong"})
        if run.link:
            marks.append({"type": "link", "attrs": {"href": run.link}})
        if marks:
            node["marks"] = marks
        nodes.append(node)
    return nodes


def _paragraph(runs: tuple[Run, ...]) -> dict[str, Any]:
    content = _text_nodes(runs)
    return {"type": "paragraph", "content": content} if content else {"type": "paragraph"}


def to_adf(doc: Doc) -> dict[str, Any]:
    """``doc`` as an Atlassian Document Format document (version 1)."""
    content: list[dict[str, Any]] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            content.append(
                {
                    "type": "heading",
                    "attrs": {"level": level},
                    "content": _text_nodes((Run(block.text),)),
                }
            )
        elif isinstance(block, Paragraph):
            content.append(_paragraph(block.runs))
        elif isinstance(block, Bullets) and block.items:
            content.append(
                {
                    "type": "bulletList",
                    "content": [
                        {"type": "listItem", "content": [_paragraph(item)]} for item in block.items
                    ],
                }
            )
    return {"type": "doc", "version": 1, "content": content}


def adf_size(doc: Doc) -> int:
    """The characters ``doc`` takes as the ADF JSON Jira receives."""
    return len(json.dumps(to_adf(doc)))


def fitted_adf(doc: Doc) -> dict[str, Any]:
    """``doc`` as ADF within ``TEXT_LIMIT``, cut with a note saying so when it is longer."""
    return to_adf(fit(doc, TEXT_LIMIT, adf_size, cut_note("Jira", TEXT_LIMIT)))


def jql_string(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the adapter -------------------------------------------------------------------------------


class JiraTickets:
    """Tickets in one Jira Cloud site."""

    system = SYSTEM
    # How long a new issue may stay out of JQL results. Atlassian gives no figure; index lag is
    # seconds in practice, so a minute is a wide margin before a lost create is sent again.
    search_lag_seconds = 60.0

    def __init__(
        self,
        base_url: str,
        *,
        email_env: str,
        token_env: str,
        issue_type: str = "Task",
        resolve_transition: str | None = None,
        reopen_transition: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Sleep | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(
                "base_url must be the site URL, like https://your-domain.atlassian.net"
            )
        self.site = base_url.rstrip("/")
        self._email_env = email_env
        self._token_env = token_env
        self._environ = environ
        self.issue_type = issue_type
        self.resolve_transition = resolve_transition
        self.reopen_transition = reopen_transition
        self._http = ticket_client(
            SYSTEM,
            self.site,
            auth=self._authorize,
            transport=transport,
            retry=retry,
            limiter=limiter,
            sleep=sleep,
        )

    @classmethod
    def from_settings(
        cls,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> JiraTickets:
        credentials = credentials or {}
        options = options or {}
        if not base_url:
            raise ValueError("base_url is required (https://your-domain.atlassian.net)")
        missing = [role for role in ("email", "api_token") if role not in credentials]
        if missing:
            raise ValueError(f"credentials.{missing[0]} must name an environment variable")
        check_options(options, {"issue_type", "resolve_transition", "reopen_transition"})
        return cls(
            base_url,
            email_env=credentials["email"],
            token_env=credentials["api_token"],
            issue_type=str(options.get("issue_type", "Task")),
            resolve_transition=options.get("resolve_transition"),
            reopen_transition=options.get("reopen_transition"),
            transport=transport,
            retry=retry,
            sleep=sleep,
            environ=environ,
        )

    async def _authorize(self, request: httpx.Request) -> None:
        set_basic_auth(SYSTEM, request, self._email_env, self._token_env, self._environ)

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, key: str) -> str:
        return f"{self.site}/browse/{key}"

    def _ticket(self, issue: Mapping[str, Any]) -> Ticket:
        try:
            key = str(issue["key"])
            fields = issue.get("fields") or {}
            status = fields.get("status") or {}
            category = (status.get("statusCategory") or {}).get("key")
        except (KeyError, TypeError, AttributeError):
            raise AdapterError(SYSTEM, "bad_payload", "an issue without a key") from None
        return Ticket(
            system=SYSTEM,
            id=str(issue.get("id") or key),
            key=key,
            url=self.url(key),
            state="resolved" if category == "done" else "open",
            status=str(status.get("name") or "unknown"),
        )

    async def find(self, fingerprint: str, *, known: Sequence[str] = ()) -> Ticket | None:
        body: dict[str, Any] = {
            "jql": f"labels = {jql_string(fingerprint)} ORDER BY created DESC",
            "fields": _FIND_FIELDS,
            "maxResults": 5,
        }
        reconcile = [int(i) for i in known if i.isdigit()][:RECONCILE_LIMIT]
        if reconcile:
            body["reconcileIssues"] = reconcile
        found = await self._http.post_json(f"{API}/search/jql", body, idempotent=True)
        issues = (found or {}).get("issues") if isinstance(found, dict) else None
        if not isinstance(issues, list):
            raise AdapterError(SYSTEM, "bad_payload", "search answer without an issues list")
        return self._ticket(issues[0]) if issues else None

    async def get(self, ticket_id: str) -> Ticket | None:
        try:
            issue = await self._http.get_json(
                f"{API}/issue/{ticket_id}", params={"fields": "status,labels"}
            )
        except AdapterError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if not isinstance(issue, dict):
            raise AdapterError(SYSTEM, "bad_payload", "an issue answer that is not an object")
        return self._ticket(issue)

    async def create(self, draft: TicketDraft) -> Ticket:
        route = draft.routing
        if not route.project:
            raise AdapterError(SYSTEM, "bad_payload", "no Jira project configured for this owner")
        fields: dict[str, Any] = {
            "project": {"key": route.project},
            "issuetype": {"name": self.issue_type},
            "summary": draft.summary[:SUMMARY_LIMIT],
            "description": fitted_adf(draft.body),
            "labels": list(dict.fromkeys([draft.fingerprint, *draft.labels])),
        }
        if route.component:
            fields["components"] = [{"name": route.component}]
        if route.assignee:
            fields["assignee"] = {"accountId": route.assignee}
        created = await self._http.post_json(f"{API}/issue", {"fields": fields})
        if not isinstance(created, dict) or not created.get("key"):
            raise AdapterError(SYSTEM, "bad_payload", "create answered without an issue key")
        key = str(created["key"])
        return Ticket(SYSTEM, str(created.get("id") or key), key, self.url(key), "open", "created")

    async def attach(self, ticket: Ticket, attachment: Attachment) -> None:
        await self._http.request(
            "POST",
            f"{API}/issue/{ticket.id}/attachments",
            files={"file": (attachment.filename, attachment.content, attachment.content_type)},
            # Jira refuses multipart uploads without it (its XSRF check).
            headers={"X-Atlassian-Token": "no-check"},
        )

    async def comment(self, ticket: Ticket, body: Doc) -> None:
        await self._http.post_json(f"{API}/issue/{ticket.id}/comment", {"body": fitted_adf(body)})

    async def resolve(self, ticket: Ticket, note: Doc) -> Ticket:
        return await self._move(ticket, note, done=True, name=self.resolve_transition)

    def can_reopen(self, ticket: Ticket) -> bool:
        # Whether the workflow allows it is known only from its transitions (``reopen`` asks).
        return True

    async def reopen(self, ticket: Ticket, note: Doc) -> Ticket:
        return await self._move(ticket, note, done=False, name=self.reopen_transition)

    async def _move(self, ticket: Ticket, note: Doc, *, done: bool, name: str | None) -> Ticket:
        path = f"{API}/issue/{ticket.id}/transitions"
        listing = await self._http.get_json(path)
        transitions = (listing or {}).get("transitions") if isinstance(listing, dict) else None
        if not isinstance(transitions, list):
            raise AdapterError(SYSTEM, "bad_payload", "transitions answer without a list")
        chosen = _pick_transition(transitions, done=done, name=name)
        if chosen is None:
            target = "done" if done else "open"
            named = f" named {name!r}" if name else ""
            raise AdapterError(
                SYSTEM,
                "bad_payload",
                f"{ticket.key} offers no transition{named} to a {target} status "
                f"(status now: {ticket.status}); set the transition name in [tickets.options]",
            )
        await self.comment(ticket, note)
        await self._http.post_json(path, {"transition": {"id": str(chosen["id"])}})
        to = chosen.get("to") or {}
        return Ticket(
            SYSTEM,
            ticket.id,
            ticket.key,
            ticket.url,
            "resolved" if done else "open",
            str(to.get("name") or ("Done" if done else "Reopened")),
        )


def _pick_transition(
    transitions: list[Any], *, done: bool, name: str | None
) -> dict[str, Any] | None:
    usable = [t for t in transitions if isinstance(t, dict) and t.get("id") is not None]
    usable = [t for t in usable if t.get("isAvailable", True)]
    if name:
        wanted = name.casefold()
        return next((t for t in usable if str(t.get("name", "")).casefold() == wanted), None)
    for t in usable:
        category = ((t.get("to") or {}).get("statusCategory") or {}).get("key")
        if (category == "done") == done and category is not None:
            return t
    return None
