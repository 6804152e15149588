"""An in-process Jira Cloud site: the REST v3 endpoints ``tools.ticketing.jira`` uses.

``JiraEmulator(faults=Faults(...))`` is an ``httpx.AsyncBaseTransport`` holding issues in
memory and answering in Jira's wire shapes:

    POST /rest/api/3/issue                       201 {id, key, self}; 400 {errorMessages, errors}
                                                 for a missing project/issue type/summary, a
                                                 description that is not an ADF document, a
                                                 label with spaces, an unknown component
    GET  /rest/api/3/issue/{key}                 the issue (fields, status with its category)
    POST /rest/api/3/search/jql                  ``labels = "…"`` [AND statusCategory …]
                                                 [ORDER BY created DESC|ASC]; other JQL → 400
    POST /rest/api/3/issue/{key}/comment         201 the comment (body must be ADF)
    POST /rest/api/3/issue/{key}/attachments     multipart part ``file``; 403 without
                                                 ``X-Atlassian-Token: no-check``
    GET  /rest/api/3/myself                      the token's user (``oos check-config``)
    GET  /rest/api/3/project/{key}               the project with its ``issueTypes``; 404
    GET  /rest/api/3/mypermissions               ``permissions`` (keys, comma-separated) for
                                                 ``projectKey``: ``havePermission`` from
                                                 ``denied`` (project key → refused keys)
    GET  /rest/api/3/issue/{key}/transitions     the workflow To Do → In Progress → Done,
    POST /rest/api/3/issue/{key}/transitions     Done → Reopen → To Do; 204

Search is eventually consistent, as Jira Cloud's is: with ``search_lag`` seconds (by ``clock``),
a new issue shows in JQL results only that long after its creation, unless its id is among the
request's ``reconcileIssues``; reads by key or id see it at once. Descriptions and comment bodies
longer than 32,767 characters (as ADF JSON) are refused with 400, as Jira refuses them.

Auth is HTTP Basic with ``email``/``token`` (401 otherwise). Faults: the shared ``Faults``
(scripted statuses with ``Retry-After``, latency, timeouts, a malformed body, expired
credentials), plus ``outage`` (every call answers that status until it is cleared: the site is
down) and ``lose_responses`` (the next N creates are carried out but their answer is lost in a
timeout — the case that makes blind retries open duplicates), both applied by the shared
``TicketEmulator`` (``ticketing.py``). Every request is recorded in ``requests`` for contract
tests.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tools.clock import Clock, utc_now
from tools.retry import Sleep
from tools.sandbox.emulators.faults import Faults
from tools.sandbox.emulators.ticketing import Refusal, Routed, TicketEmulator

DEFAULT_EMAIL = "oos-bot@example.com"
DEFAULT_TOKEN = "sandbox-jira-api-token"
DEFAULT_SITE = "https://oos-sandbox.atlassian.net"

_STATUSES = {
    "todo": {"id": "10000", "name": "To Do", "statusCategory": {"id": 2, "key": "new"}},
    "progress": {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {"id": 4, "key": "indeterminate"},
    },
    "done": {"id": "10001", "name": "Done", "statusCategory": {"id": 3, "key": "done"}},
}
# transition id → (name, from statuses, to status)
_WORKFLOW = {
    "11": ("To Do", {"progress"}, "todo"),
    "21": ("In Progress", {"todo"}, "progress"),
    "31": ("Done", {"todo", "progress"}, "done"),
    "41": ("Reopen", {"done"}, "todo"),
}
_JQL = re.compile(
    r"""^\s*labels\s*=\s*(?P<label>"(?:[^"\\]|\\.)*"|[A-Za-z0-9_\-.]+)"""
    r"""(?:\s+AND\s+statusCategory\s*(?P<op>!=|=)\s*(?P<category>"[^"]*"|\w+))?"""
    r"""(?:\s+ORDER\s+BY\s+created(?:\s+(?P<order>ASC|DESC))?)?\s*$""",
    re.IGNORECASE,
)
TEXT_LIMIT = 32_767
_TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
_CATEGORY_NAMES = {"done": "done", "to do": "new", "new": "new", "in progress": "indeterminate"}


class _Answer(Refusal):
    def __init__(
        self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass
class Project:
    key: str
    components: set[str] = field(default_factory=set)


class JiraEmulator(TicketEmulator):
    vendor = "Jira"
    created = "issue"
    create_path = "/rest/api/3/issue"
    maintenance_page = b"<html>Atlassian maintenance"

    def __init__(
        self,
        *,
        email: str = DEFAULT_EMAIL,
        token: str = DEFAULT_TOKEN,
        site: str = DEFAULT_SITE,
        projects: dict[str, set[str]] | None = None,
        faults: Faults | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        search_lag: float = 0.0,
        issue_types: tuple[str, ...] = ("Task", "Bug", "Story"),
        denied: dict[str, set[str]] | None = None,
    ) -> None:
        super().__init__(faults=faults, sleep=sleep)
        self.issue_types = issue_types
        self.denied = denied or {}
        self.clock = clock
        self.search_lag = search_lag
        self.email = email
        self.token = token
        self.site = site.rstrip("/")
        self.projects = {
            key: Project(key, set(components))
            for key, components in (projects or {"OPS": {"Inventory"}}).items()
        }
        self.issues: dict[str, dict[str, Any]] = {}
        self._next_id = 10000
        self._counters: dict[str, int] = {}

    # --- what tests look at ----------------------------------------------------------------

    def issue(self, key: str) -> dict[str, Any]:
        return self.issues[key]

    def status_of(self, key: str) -> str:
        return str(self.issues[key]["fields"]["status"]["name"])

    def resolve_in_jira(self, key: str) -> None:
        """IT resolves the issue in Jira itself (not through the bot)."""
        self.issues[key]["fields"]["status"] = dict(_STATUSES["done"])

    # --- what the shared transport asks ----------------------------------------------------

    def _refusal(self, status: int, *, outage: bool) -> _Answer:
        return _Answer(status, ["Service unavailable" if outage else _REASONS.get(status, "Error")])

    def _authenticate(self, request: httpx.Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if self.faults.expired_token or scheme.lower() != "basic" or value != expected:
            raise _Answer(401, ["Client must be authenticated to access this resource."])

    # --- routes ----------------------------------------------------------------------------

    def _route(self, request: httpx.Request, path: str, body: bytes) -> Routed:
        method = request.method
        if path == self.create_path and method == "POST":
            return 201, self._create(_json(body)), {}
        if path == "/rest/api/3/search/jql" and method == "POST":
            return 200, self._search(_json(body)), {}
        if method == "GET" and path == "/rest/api/3/myself":
            return (
                200,
                {
                    "accountId": "5b10ac8d82e05b22cc7d4ef5",
                    "emailAddress": self.email,
                    "displayName": "OOS bot",
                    "active": True,
                },
                {},
            )
        if method == "GET" and path == "/rest/api/3/mypermissions":
            return 200, self._my_permissions(request.url.params), {}
        project_path = re.fullmatch(r"/rest/api/3/project/([^/]+)", path)
        if method == "GET" and project_path is not None:
            return 200, self._project(project_path.group(1)), {}
        match = re.fullmatch(r"/rest/api/3/issue/([^/]+)(/[a-z]+)?", path)
        if match is None:
            raise _Answer(404, ["Not found"])
        issue = self._find(match.group(1))
        tail = match.group(2)
        if tail is None and method == "GET":
            return 200, self._render(issue), {}
        if tail == "/comment" and method == "POST":
            return 201, self._comment(issue, _json(body)), {}
        if tail == "/attachments" and method == "POST":
            return 200, self._attach(request, issue, body), {}
        if tail == "/transitions" and method == "GET":
            return 200, {"expand": "transitions", "transitions": self._transitions(issue)}, {}
        if tail == "/transitions" and method == "POST":
            self._transition(issue, _json(body))
            return 204, None, {}
        raise _Answer(405, [f"{method} is not supported here"])

    def _project(self, key: str) -> dict[str, Any]:
        if key not in self.projects:
            raise _Answer(404, [f"No project could be found with key '{key}'."])
        return {
            "id": str(10000 + list(self.projects).index(key)),
            "key": key,
            "name": key,
            "issueTypes": [
                {"id": str(10001 + n), "name": name, "subtask": False}
                for n, name in enumerate(self.issue_types)
            ],
        }

    def _my_permissions(self, params: httpx.QueryParams) -> dict[str, Any]:
        wanted = [k for k in params.get("permissions", "").split(",") if k]
        if not wanted:
            raise _Answer(400, ["The permissions query parameter is required."])
        project = params.get("projectKey")
        if project is not None and project not in self.projects:
            raise _Answer(404, [f"No project could be found with key '{project}'."])
        refused = self.denied.get(project or "", set())
        return {
            "permissions": {
                key: {"key": key, "type": "PROJECT", "havePermission": key not in refused}
                for key in wanted
            }
        }

    def _find(self, key: str) -> dict[str, Any]:
        issue = self.issues.get(key) or next(
            (i for i in self.issues.values() if i["id"] == key), None
        )
        if issue is None:
            raise _Answer(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def _create(self, body: Any) -> dict[str, Any]:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise _Answer(400, ["The request must contain fields."])
        errors: dict[str, str] = {}
        project = self.projects.get(str((fields.get("project") or {}).get("key")))
        if project is None:
            errors["project"] = "valid project is required"
        if not (fields.get("issuetype") or {}).get("name") and not (
            fields.get("issuetype") or {}
        ).get("id"):
            errors["issuetype"] = "Specify an issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters and one line."
        description = fields.get("description")
        if description is not None and not _is_adf(description):
            errors["description"] = (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        elif description is not None and len(json.dumps(description)) > TEXT_LIMIT:
            errors["description"] = _TOO_LONG
        labels = fields.get("labels") or []
        for label in labels:
            if not isinstance(label, str) or " " in label or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        components = [c.get("name") for c in fields.get("components") or []]
        if project is not None:
            for name in components:
                if name not in project.components:
                    errors["components"] = f"Component name '{name}' is not valid"
        if errors:
            raise _Answer(400, [], errors)
        assert project is not None
        self._counters[project.key] = self._counters.get(project.key, 0) + 1
        key = f"{project.key}-{self._counters[project.key]}"
        self._next_id += 1
        issue_id = str(self._next_id)
        self.issues[key] = {
            "id": issue_id,
            "key": key,
            "fields": {
                "summary": summary,
                "description": description,
                "labels": list(labels),
                "project": {"key": project.key},
                "issuetype": fields.get("issuetype"),
                "components": [{"name": n} for n in components],
                "assignee": fields.get("assignee"),
                "status": dict(_STATUSES["todo"]),
                "created": _now(),
            },
            "comments": [],
            "attachments": [],
            "indexed_at": self.clock().timestamp() + self.search_lag,
        }
        return {"id": issue_id, "key": key, "self": f"{self.site}/rest/api/3/issue/{issue_id}"}

    def _render(self, issue: dict[str, Any]) -> dict[str, Any]:
        fields = dict(issue["fields"])
        fields["comment"] = {"comments": issue["comments"], "total": len(issue["comments"])}
        fields["attachment"] = [
            {k: v for k, v in a.items() if k != "bytes"} for a in issue["attachments"]
        ]
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{self.site}/rest/api/3/issue/{issue['id']}",
            "fields": fields,
        }

    def _search(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
            raise _Answer(400, ["jql is required"])
        match = _JQL.match(body["jql"])
        if match is None:
            raise _Answer(400, [f"Error in the JQL Query: cannot parse {body['jql']!r}"])
        label = match.group("label")
        if label.startswith('"'):
            label = re.sub(r"\\(.)", r"\1", label[1:-1])
        reconcile = {str(i) for i in body.get("reconcileIssues") or []}
        now = self.clock().timestamp()
        found = [
            i
            for i in self.issues.values()
            if label in i["fields"]["labels"] and (i["indexed_at"] <= now or i["id"] in reconcile)
        ]
        if match.group("category"):
            wanted = _CATEGORY_NAMES.get(match.group("category").strip('"').casefold())
            equal = match.group("op") == "="
            found = [
                i
                for i in found
                if (i["fields"]["status"]["statusCategory"]["key"] == wanted) == equal
            ]
        found.sort(
            key=lambda i: int(i["id"]), reverse=(match.group("order") or "ASC").upper() == "DESC"
        )
        limit = int(body.get("maxResults") or 50)
        wanted_fields = body.get("fields") or ["id"]
        issues = [
            {
                "id": i["id"],
                "key": i["key"],
                "self": f"{self.site}/rest/api/3/issue/{i['id']}",
                "fields": {k: v for k, v in i["fields"].items() if k in wanted_fields},
            }
            for i in found[:limit]
        ]
        return {"issues": issues, "isLast": len(found) <= limit}

    def _comment(self, issue: dict[str, Any], body: Any) -> dict[str, Any]:
        adf = body.get("body") if isinstance(body, dict) else None
        if not _is_adf(adf):
            raise _Answer(400, [], {"comment": "Comment body must be an Atlassian Document."})
        if len(json.dumps(adf)) > TEXT_LIMIT:
            raise _Answer(400, [], {"comment": _TOO_LONG})
        comment = {
            "id": str(10000 + sum(len(i["comments"]) for i in self.issues.values()) + 1),
            "body": adf,
            "created": _now(),
            "author": {"emailAddress": self.email, "displayName": "OOS Triage"},
        }
        issue["comments"].append(comment)
        return comment

    def _attach(self, request: httpx.Request, issue: dict[str, Any], body: bytes) -> list[Any]:
        if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            raise _Answer(403, ["XSRF check failed"])
        content_type = request.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise _Answer(415, ["Unsupported Media Type"])
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        saved = []
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") != "file":
                continue
            data = part.get_payload(decode=True) or b""
            attachment = {
                "id": str(20000 + len(issue["attachments"]) + 1),
                "filename": part.get_filename(),
                "mimeType": part.get_content_type(),
                "size": len(data),
                "created": _now(),
                "bytes": data,
            }
            issue["attachments"].append(attachment)
            saved.append({k: v for k, v in attachment.items() if k != "bytes"})
        if not saved:
            raise _Answer(400, ["No file part named 'file'"])
        return saved

    def _transitions(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        current = _status_key(issue)
        return [
            {
                "id": tid,
                "name": name,
                "to": dict(_STATUSES[to]),
                "hasScreen": False,
                "isAvailable": True,
                "isConditional": False,
                "isGlobal": False,
                "isInitial": False,
                "isLooped": False,
            }
            for tid, (name, sources, to) in _WORKFLOW.items()
            if current in sources
        ]

    def _transition(self, issue: dict[str, Any], body: Any) -> None:
        tid = str(((body or {}).get("transition") or {}).get("id"))
        allowed = {t["id"] for t in self._transitions(issue)}
        if tid not in allowed:
            raise _Answer(400, [f"Transition id '{tid}' is not valid for this issue."])
        issue["fields"]["status"] = dict(_STATUSES[_WORKFLOW[tid][2]])
        update = (body or {}).get("update") or {}
        for op in update.get("comment") or []:
            if "add" in op:
                self._comment(issue, op["add"])


_REASONS = {
    429: "Rate limit exceeded.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def _status_key(issue: dict[str, Any]) -> str:
    name = issue["fields"]["status"]["name"]
    return next(k for k, v in _STATUSES.items() if v["name"] == name)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        raise _Answer(400, ["Unexpected character: the body is not JSON"]) from None


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def _now() -> str:
    return utc_now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
