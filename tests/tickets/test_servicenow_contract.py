"""ServiceNow: the requests follow the Table API and Attachment API as
``../shared/specs/servicenow/NOTES.md`` documents them (no machine-readable spec exists): the
endpoint table, the ``sysparm_*`` query parameters it lists, records in ``{"result": …}``,
errors in ``{"error": {"message", "detail"}}``, Basic or OAuth bearer auth."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
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
from tools.sandbox.emulators import servicenow as emulator
from tools.ticketing.base import Doc, Routing, TicketDraft
from tools.ticketing.servicenow import ServiceNowTickets

NOTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "servicenow" / "NOTES.md"


@pytest.fixture
def notes() -> str:
    if not NOTES.exists():
        pytest.skip(f"ServiceNow notes not found at {NOTES} (the shared/ folder beside the repo)")
    return NOTES.read_text(encoding="utf-8")


def _endpoints(notes: str) -> list[tuple[str, str]]:
    """(method, path regex) from the notes' endpoint table (default URLs)."""
    out = []
    for line in notes.splitlines():
        match = re.match(r"\|\s*([A-Z /()a-z]+?)\s*\|\s*`(/api/now/[^`]+)`", line)
        if not match:
            continue
        methods = re.findall(r"GET|POST|PUT|PATCH|DELETE", match.group(1))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(match.group(2)))
        out += [(m, f"^{pattern}$") for m in methods]
    return out


def _documented_params(notes: str) -> set[str]:
    return set(re.findall(r"`(sysparm_\w+)`", notes))


async def _every_operation(world: World) -> None:
    service = world.service()
    report = report_for("SKU-4101")
    await service.open(report, "t1", thread_url="https://x.slack.com/archives/C1/p1")
    await service.open(report, "t2")
    await service.resolve(report, "t2")
    await service.open(report, "t3")


async def test_table_api_requests_follow_the_notes(notes: str, make_world: WorldFactory) -> None:
    world = await make_world("servicenow")
    await _every_operation(world)
    endpoints = _endpoints(notes)
    assert ("POST", "^/api/now/table/[^/]+$") in endpoints  # the table was read
    params = _documented_params(notes)
    assert {"sysparm_query", "sysparm_fields", "sysparm_limit"} <= params

    auth = base64.b64encode(
        f"{emulator.DEFAULT_USER}:{emulator.DEFAULT_PASSWORD}".encode()
    ).decode()
    kinds = set()
    for request in world.emulator.requests:
        assert request.headers["authorization"] == f"Basic {auth}"
        assert request.headers["accept"] == "application/json"
        if request.path == "/api/now/attachment/file":
            # The Attachment API (not in the Table API notes): the file is the raw body.
            assert request.method == "POST"
            assert set(request.query) == {"table_name", "table_sys_id", "file_name"}
            assert request.query["table_name"] == "incident"
            assert request.headers["content-type"] == "application/json"
            assert request.body.startswith(b"{")
            kinds.add("attach")
            continue
        assert any(m == request.method and re.match(p, request.path) for m, p in endpoints), (
            f"{request.method} {request.path} is not a documented Table API call"
        )
        assert request.path.startswith("/api/now/table/incident")
        table_params = {k for k in request.query if k.startswith("sysparm_")}
        assert table_params <= params | {"sysparm_input_display_value"}
        assert set(request.query) == table_params
        if request.method == "GET" and request.path == "/api/now/table/incident":
            query = request.query["sysparm_query"]
            assert re.fullmatch(
                r"correlation_id=oos-fp-[0-9a-f]{16}\^ORDERBYDESCsys_created_on", query
            )
            kinds.add("find")
        elif request.method == "POST":
            body = request.json()
            assert set(body) >= {"short_description", "description", "correlation_id"}
            assert len(body["short_description"]) <= 160 and len(body["correlation_id"]) <= 100
            assert body["assignment_group"] == "ERP Support"
            assert request.query["sysparm_input_display_value"] == "true"
            kinds.add("create")
        elif request.method == "PATCH":
            body = request.json()
            if body.get("state") == "6":
                assert body["close_code"] and body["close_notes"]
                kinds.add("resolve")
            elif body.get("state") == "2":
                kinds.add("reopen")
            else:
                assert set(body) == {"work_notes"}
                kinds.add("work_notes")
        else:
            kinds.add("get")
    assert kinds == {"find", "create", "attach", "get", "work_notes", "resolve", "reopen"}


def _adapter(handler: Any, **kwargs: Any) -> ServiceNowTickets:
    creds = kwargs.pop(
        "creds", {"username_env": "TEST_SN_USER", "password_env": "TEST_SN_PASSWORD"}
    )
    return ServiceNowTickets(
        "https://acme.service-now.com",
        transport=httpx.MockTransport(handler),
        retry=QUICK_RETRY,
        sleep=no_sleep,
        **creds,
        **kwargs,
    )


async def test_oauth_bearer_auth(make_world: WorldFactory) -> None:
    world = await make_world("servicenow")
    sn = ServiceNowTickets.from_settings(
        base_url=emulator.DEFAULT_INSTANCE,
        credentials={"token": "TEST_SN_TOKEN"},
        transport=world.emulator,
    )
    assert await sn.find("oos-fp-0123456789abcdef") is None
    assert (
        world.emulator.requests[-1].headers["authorization"] == f"Bearer {emulator.DEFAULT_TOKEN}"
    )
    await sn.aclose()


async def test_a_sys_id_group_is_sent_as_is_and_the_api_version_is_used() -> None:
    seen: list[httpx.Request] = []
    sys_id = "0" * 31 + "1"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, json={"result": {"sys_id": "a" * 32, "number": "INC0010001", "state": "1"}}
        )

    sn = _adapter(handler, api_version="v2")
    ticket = await sn.create(
        TicketDraft("s", Doc(()), "oos-fp-x", Routing(assignment_group=sys_id))
    )
    assert seen[0].url.path == "/api/now/v2/table/incident"
    assert "sysparm_input_display_value" not in seen[0].url.params
    assert (ticket.key, ticket.state) == ("INC0010001", "open")
    assert (
        ticket.url
        == "https://acme.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3D" + "a" * 32
    )
    await sn.aclose()


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            401,
            {
                "error": {
                    "message": "User Not Authenticated",
                    "detail": "Required to provide Auth information",
                },
                "status": "failure",
            },
            "auth",
            "User Not Authenticated",
        ),
        (
            403,
            {
                "error": {"message": "Operation Failed", "detail": "Data Policy Exception"},
                "status": "failure",
            },
            "auth",
            "Operation Failed",
        ),
        (
            404,
            {
                "error": {"message": "No Record found", "detail": "Record doesn't exist"},
                "status": "failure",
            },
            "not_found",
            "No Record found",
        ),
        (
            429,
            {"error": {"message": "Too Many Requests", "detail": ""}, "status": "failure"},
            "rate_limited",
            "Too Many",
        ),
        (
            503,
            {"error": {"message": "Service Unavailable", "detail": ""}, "status": "failure"},
            "server_error",
            "Unavailable",
        ),
    ],
)
async def test_servicenow_errors_become_typed_failures(
    status: int, body: Any, kind: str, says: str
) -> None:
    sn = _adapter(lambda _r: httpx.Response(status, json=body))
    draft = TicketDraft("s", Doc(()), "oos-fp-x", Routing())
    await assert_create_fails(sn, draft, kind=kind, says=says, secret=emulator.DEFAULT_PASSWORD)
    await sn.aclose()


async def test_an_answer_without_result_is_a_bad_payload() -> None:
    sn = _adapter(lambda _r: httpx.Response(200, json={"records": []}))
    with pytest.raises(AdapterError) as caught:
        await sn.find("oos-fp-x")
    assert caught.value.kind == "bad_payload"
    await sn.aclose()


async def test_resolving_without_a_close_code_is_refused_by_the_emulator(
    make_world: WorldFactory,
) -> None:
    world = await make_world("servicenow")
    sn = world.service().system
    assert isinstance(sn, ServiceNowTickets)
    ticket = await sn.create(TicketDraft("s", Doc(()), "oos-fp-x", Routing()))
    sn.close_code = ""
    with pytest.raises(AdapterError, match="HTTP 403: Operation Failed"):
        await sn.resolve(ticket, Doc(()))


def test_credentials_need_a_pair_or_a_token() -> None:
    with pytest.raises(ValueError, match="username and password, or token"):
        ServiceNowTickets.from_settings(
            base_url="https://acme.service-now.com", credentials={"username": "SN_USER"}
        )
    with pytest.raises(ValueError, match="unknown option"):
        ServiceNowTickets.from_settings(
            base_url="https://acme.service-now.com",
            credentials={"token": "T"},
            options={"colour": 1},
        )
