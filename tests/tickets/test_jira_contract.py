"""Jira Cloud: every request the adapter sends conforms to Atlassian's OpenAPI file
(``../shared/specs/jira-cloud``): the path template and method exist, every query parameter is
declared for the operation, JSON bodies validate against the operation's request schema, and
descriptions and comments are well-formed Atlassian Document Format. The adapter also reads
the spec's own example responses, maps Jira's errors, and retries reads only."""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.tickets.conftest import (
    QUICK_RETRY,
    World,
    WorldFactory,
    assert_create_fails,
    no_sleep,
    report_for,
)
from tools.errors import AdapterError
from tools.sandbox.emulators import jira as emulator
from tools.sandbox.emulators.faults import Scripted
from tools.ticketing.base import (
    Attachment,
    Doc,
    Heading,
    Routing,
    Run,
    Ticket,
    TicketDraft,
    para,
)
from tools.ticketing.jira import JiraTickets, jql_string, to_adf

SPEC = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "specs"
    / "jira-cloud"
    / "jira-platform-swagger-v3.v3.json"
)


@cache
def _load() -> dict[str, Any]:
    return json.loads(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"Jira spec not found at {SPEC} (the shared/ folder beside the repo)")
    return _load()


def _operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the Jira Cloud v3 spec")


def _validate(spec: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    root = {**schema, "components": spec["components"]}
    jsonschema.Draft7Validator(root).validate(body)


# --- Atlassian Document Format (structure from developer.atlassian.com/…/document/structure) -

_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard"}
_MARKS = {"strong", "em", "code", "link", "strike", "underline", "subsup", "textColor"}


def assert_adf(node: Any) -> None:
    assert isinstance(node, dict) and node.get("type") == "doc" and node.get("version") == 1
    assert isinstance(node.get("content"), list)
    for block in node["content"]:
        _block(block)


def _block(node: dict[str, Any]) -> None:
    kind = node.get("type")
    assert kind in {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule"}, kind
    if kind == "heading":
        assert node["attrs"]["level"] in range(1, 7)
    if kind in ("paragraph", "heading"):
        for child in node.get("content", []):
            _inline(child)
    if kind == "bulletList":
        assert node["content"], "a list needs items"
        for item in node["content"]:
            assert item["type"] == "listItem" and item["content"]
            for child in item["content"]:
                _block(child)


def _inline(node: dict[str, Any]) -> None:
    assert node.get("type") in _INLINE
    if node["type"] == "text":
        assert isinstance(node["text"], str) and node["text"], "ADF refuses empty text nodes"
        marks = [m["type"] for m in node.get("marks", [])]
        assert set(marks) <= _MARKS and len(marks) == len(set(marks))
        if "code" in marks:
            assert set(marks) <= {"code", "link"}, "code combines only with link"
        for mark in node.get("marks", []):
            if mark["type"] == "link":
                assert mark["attrs"]["href"].startswith(("https://", "http://"))


# --- the requests ----------------------------------------------------------------------------


async def _every_operation(world: World) -> None:
    service = world.service()
    report = report_for("SKU-4101")
    thread = "https://fake-workspace.slack.com/archives/C1/p1700000000000100"
    await service.open(report, "t1", thread_url=thread)  # search, create, attach
    await service.open(report, "t2", thread_url=thread)  # get, comment
    await service.resolve(report, "t2")  # get, transitions, comment, transition
    await service.open(report, "t3")  # get, transitions, comment, transition (reopen)


async def test_every_request_conforms_to_the_jira_spec(
    spec: dict[str, Any], make_world: WorldFactory
) -> None:
    world = await make_world("jira")
    await _every_operation(world)

    seen: set[str] = set()
    auth = base64.b64encode(f"{emulator.DEFAULT_EMAIL}:{emulator.DEFAULT_TOKEN}".encode()).decode()
    for request in world.emulator.requests:
        template, op = _operation(spec, request.method, request.path)
        seen.add(op["operationId"])
        # basicAuth is one of the operation's security schemes
        assert request.headers["authorization"] == f"Basic {auth}"
        schemes = {name for req in op.get("security", spec.get("security", [])) for name in req}
        assert "basicAuth" in schemes, f"{op['operationId']} does not take basic auth"
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        assert set(request.query) <= declared, (
            f"{template}: undeclared {set(request.query) - declared}"
        )
        path_params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
        assert all(p.get("required") for p in path_params)

        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            assert request.headers["content-type"] == "application/json"
            _validate(spec, content["application/json"]["schema"], request.json())
        elif "multipart/form-data" in content:
            assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
            assert request.headers["x-atlassian-token"] == "no-check"
            assert b'name="file"; filename="oos-SKU-4101-t1.json"' in request.body
        else:
            assert request.body == b"", f"{op['operationId']} takes no body"

    assert seen == {
        "searchAndReconsileIssuesUsingJqlPost",
        "createIssue",
        "addAttachment",
        "getIssue",
        "addComment",
        "getTransitions",
        "doTransition",
    }


async def test_bodies_carry_what_jira_requires(
    spec: dict[str, Any], make_world: WorldFactory
) -> None:
    world = await make_world("jira")
    await _every_operation(world)
    by_op: dict[str, list[Any]] = {}
    for request in world.emulator.requests:
        _t, op = _operation(spec, request.method, request.path)
        by_op.setdefault(op["operationId"], []).append(
            request.json()
            if request.body and not request.headers["content-type"].startswith("multipart")
            else None
        )

    (create,) = by_op["createIssue"]
    fields = create["fields"]
    assert fields["project"] == {"key": "ERP"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"].startswith("SKU-4101 · L4.listener_inactive")
    assert "oos-triage" in fields["labels"]
    assert any(label.startswith("oos-fp-") for label in fields["labels"])
    assert all(" " not in label for label in fields["labels"])
    assert_adf(fields["description"])
    # the same ADF node vocabulary as the spec's own createIssue example
    example = spec["paths"]["/rest/api/3/issue"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    assert_adf(example["fields"]["description"])

    for comment in by_op["addComment"]:
        assert set(comment) == {"body"}
        assert_adf(comment["body"])
    for transition in by_op["doTransition"]:
        assert set(transition) == {"transition"} and transition["transition"]["id"]
    for search in by_op["searchAndReconsileIssuesUsingJqlPost"]:
        assert re.fullmatch(r'labels = "oos-fp-[0-9a-f]{16}" ORDER BY created DESC', search["jql"])


def test_adf_of_every_block_kind() -> None:
    doc = Doc(
        (
            Heading("Evidence package", level=9),
            para(
                Run("bold", bold=True),
                Run("code", code=True),
                Run("link", link="https://x.example"),
            ),
            para(Run("")),  # an empty run leaves an empty paragraph, not an empty text node
        )
    )
    adf = to_adf(doc)
    assert_adf(adf)
    assert adf["content"][0]["attrs"]["level"] == 6
    assert adf["content"][2] == {"type": "paragraph"}


def test_jql_strings_are_quoted() -> None:
    assert jql_string('a"b\\c') == '"a\\"b\\\\c"'


# --- the spec's example answers, errors, retries ---------------------------------------------


def _adapter(handler: Any) -> JiraTickets:
    return JiraTickets(
        "https://your-domain.atlassian.net",
        email_env="TEST_JIRA_EMAIL",
        token_env="TEST_JIRA_API_TOKEN",
        transport=httpx.MockTransport(handler),
        retry=QUICK_RETRY,
        sleep=no_sleep,
    )


def _example(spec: dict[str, Any], path: str, method: str, status: str) -> Any:
    raw = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["example"]
    return json.loads(raw)


async def test_the_adapter_reads_the_specs_example_answers(spec: dict[str, Any]) -> None:
    answers = {
        ("POST", "/rest/api/3/issue"): (201, _example(spec, "/rest/api/3/issue", "post", "201")),
        ("POST", "/rest/api/3/search/jql"): (
            200,
            _example(spec, "/rest/api/3/search/jql", "post", "200"),
        ),
        # the adapter addresses an issue by its numeric id (what reconcileIssues takes)
        ("GET", "/rest/api/3/issue/10000/transitions"): (
            200,
            _example(spec, "/rest/api/3/issue/{issueIdOrKey}/transitions", "get", "200"),
        ),
        ("POST", "/rest/api/3/issue/10000/transitions"): (204, None),
        ("POST", "/rest/api/3/issue/10000/comment"): (201, {"id": "1"}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = answers[(request.method, request.url.path)]
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    jira = _adapter(handler)
    draft = TicketDraft("s", Doc(()), "oos-fp-0123456789abcdef", Routing(project="ED"))
    created = await jira.create(draft)
    assert (created.id, created.key) == ("10000", "ED-24")
    assert created.url == "https://your-domain.atlassian.net/browse/ED-24"
    found = await jira.find("oos-fp-0123456789abcdef")
    assert found is not None and found.key
    # the example workflow names its transitions; the config picks one by name
    jira.resolve_transition = "QA Review"
    moved = await jira.resolve(created, Doc((para("done"),)))
    assert (moved.state, moved.status) == ("resolved", "Closed")
    await jira.aclose()


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            400,
            {"errorMessages": [], "errors": {"project": "valid project is required"}},
            "bad_payload",
            "valid project is required",
        ),
        (
            401,
            {
                "errorMessages": ["Client must be authenticated to access this resource."],
                "errors": {},
            },
            "auth",
            "must be authenticated",
        ),
        (403, {"errorMessages": ["XSRF check failed"], "errors": {}}, "auth", "XSRF"),
        (
            404,
            {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                "errors": {},
            },
            "not_found",
            "does not exist",
        ),
        (
            429,
            {"errorMessages": ["Rate limit exceeded."], "errors": {}},
            "rate_limited",
            "Rate limit",
        ),
        (
            503,
            {"errorMessages": ["Service unavailable"], "errors": {}},
            "server_error",
            "unavailable",
        ),
    ],
)
async def test_jira_errors_become_typed_failures(
    status: int, body: Any, kind: str, says: str
) -> None:
    jira = _adapter(lambda _r: httpx.Response(status, json=body))
    draft = TicketDraft("s", Doc(()), "oos-fp-0123456789abcdef", Routing(project="OPS"))
    await assert_create_fails(jira, draft, kind=kind, says=says, secret=emulator.DEFAULT_TOKEN)
    await jira.aclose()


async def test_reads_are_retried_and_writes_are_not() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503, json={"errorMessages": ["down"]}, headers={"Retry-After": "1"})

    jira = _adapter(handler)
    with pytest.raises(AdapterError):
        await jira.find("oos-fp-0123456789abcdef")
    assert len(calls) == 3  # a search is a read: retried
    calls.clear()
    with pytest.raises(AdapterError):
        await jira.create(TicketDraft("s", Doc(()), "oos-fp-x", Routing(project="OPS")))
    assert len(calls) == 1  # a create is a write: the outbox decides, never a blind retry
    calls.clear()
    with pytest.raises(AdapterError):
        await jira.attach(
            Ticket("jira", "OPS-1", "OPS-1", "https://x/browse/OPS-1", "open", ""),
            Attachment("r.json", b"{}"),
        )
    assert len(calls) == 1
    await jira.aclose()


async def test_missing_credentials_say_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_JIRA_API_TOKEN")
    jira = _adapter(lambda _r: httpx.Response(200, json={"issues": []}))
    with pytest.raises(AdapterError, match="TEST_JIRA_API_TOKEN is not set") as caught:
        await jira.find("oos-fp-0123456789abcdef")
    assert caught.value.kind == "auth"
    await jira.aclose()


async def test_the_emulator_refuses_what_jira_refuses(make_world: WorldFactory) -> None:
    world = await make_world("jira")
    service = world.service()
    jira = service.system
    assert isinstance(jira, JiraTickets)
    bad = TicketDraft("s", Doc(()), "oos-fp-x", Routing(project="NOPE"))
    with pytest.raises(AdapterError, match="valid project is required"):
        await jira.create(bad)
    world.emulator.faults.statuses = [Scripted(429, retry_after=1)]
    assert await jira.find("oos-fp-none") is None  # a 429 on a read is waited out
