"""VendorClient over httpx.MockTransport: fault mapping, retries, limiter calls, redaction."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes import FakeClock
from tools.errors import AdapterError
from tools.http import MESSAGE_LIMIT, VendorClient, status_kind
from tools.ratelimit import LeakyBucket, RateLimiter, TokenBucket
from tools.redact import Redactor
from tools.retry import RetryPolicy, retry_after_spread

Handler = Callable[[httpx.Request], httpx.Response]
TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class Recorder:
    """A MockTransport handler answering from a script and keeping every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def make_client(handler: Recorder, clock: FakeClock | None = None, **kwargs: Any) -> VendorClient:
    clock = clock or FakeClock()
    kwargs.setdefault("retry", RetryPolicy.interactive())
    return VendorClient(
        "shopify",
        "https://shop.example.test",
        timeout=TIMEOUT,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda cap: cap,  # the top of the full-jitter range, so waits are predictable
        **kwargs,
    )


def reply(status: int, body: Any = None, **headers: str) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


async def test_returns_json_and_sends_base_url_timeout_and_params() -> None:
    handler = Recorder(reply(200, {"data": {"sku": "A-1"}}))
    async with make_client(handler) as client:
        body = await client.get_json("/admin/api/2025-01/variants.json", params={"sku": "A-1"})

    assert body == {"data": {"sku": "A-1"}}
    (request,) = handler.requests
    assert str(request.url) == "https://shop.example.test/admin/api/2025-01/variants.json?sku=A-1"
    assert request.extensions["timeout"] == TIMEOUT.as_dict()


async def test_empty_204_body_decodes_to_none() -> None:
    async with make_client(Recorder(httpx.Response(204))) as client:
        assert await client.get_json("/x") is None


# Each vendor's own error body, and what the operator must read from it.
VENDOR_FAULTS = [
    pytest.param(
        401,
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
        "auth",
        "[API] Invalid API key or access token",
        id="shopify-rest-401",
    ),
    pytest.param(
        403,
        {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "",
                }
            ]
        },
        "auth",
        "Unauthorized: Access to requested resource is denied.",
        id="sp-api-403",
    ),
    pytest.param(
        404,
        {
            "message": "The product that was requested doesn't exist. "
            "Verify the product and try again."
        },
        "not_found",
        "The product that was requested doesn't exist.",
        id="magento-404",
    ),
    pytest.param(
        404,
        {
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5",
            "title": "Not Found",
            "status": 404,
            "o:errorDetails": [
                {
                    "detail": "The record instance does not exist. Provide a valid record "
                    "instance ID.",
                    "o:errorCode": "NONEXISTENT_ID",
                }
            ],
        },
        "not_found",
        "NONEXISTENT_ID: The record instance does not exist.",
        id="netsuite-404",
    ),
    pytest.param(
        404,
        {
            "error": {
                "code": "BadRequest_NotFound",
                "message": "The Item does not exist. Identification fields and values: No='X9'",
            }
        },
        "not_found",
        "BadRequest_NotFound: The Item does not exist.",
        id="business-central-404",
    ),
    pytest.param(
        404,
        {
            "error": {
                "code": "SY/530",
                "message": {"lang": "en", "value": "Resource not found for segment 'A_Product'"},
            }
        },
        "not_found",
        "Resource not found for segment 'A_Product'",
        id="sap-odata-404",
    ),
    pytest.param(
        422,
        {
            "status": 422,
            "title": "JSON data is missing or invalid",
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            "detail": "inventory_level must be an integer",
        },
        "bad_payload",
        "JSON data is missing or invalid: inventory_level must be an integer",
        id="bigcommerce-422",
    ),
    pytest.param(
        400,
        {"errorMessages": ["The value 'XYZ' does not exist for the field 'project'."]},
        "bad_payload",
        "The value 'XYZ' does not exist",
        id="jira-400",
    ),
    pytest.param(
        401,
        {"error": "invalid_grant", "error_description": "The provided grant has expired"},
        "auth",
        "invalid_grant: The provided grant has expired",
        id="oauth-401",
    ),
    pytest.param(
        500,
        {
            "errors": {
                "error": [
                    {
                        "code": "SYSTEM_ERROR.GMP_GATEWAY_API",
                        "description": "Something went wrong",
                    }
                ]
            }
        },
        "server_error",
        "SYSTEM_ERROR.GMP_GATEWAY_API: Something went wrong",
        id="walmart-500",
    ),
    pytest.param(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        "server_error",
        "502 Bad Gateway",
        id="html-502",
    ),
    pytest.param(
        429,
        {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota."}]},
        "rate_limited",
        "QuotaExceeded: You exceeded your quota.",
        id="sp-api-429",
    ),
    pytest.param(408, "", "timeout", "Request Timeout", id="empty-408"),
    pytest.param(
        403,
        {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token has expired",
                }
            ]
        },
        "auth",
        "Unauthorized: Access to requested resource is denied. The access token has expired",
        id="sp-api-403-details",
    ),
    pytest.param(
        403,
        {
            "error": {
                "message": "Operation Failed",
                "detail": "Data Policy Exception: Short description is mandatory",
            },
            "status": "failure",
        },
        "auth",
        "Operation Failed: Data Policy Exception: Short description is mandatory",
        id="servicenow-403-detail",
    ),
]


@pytest.mark.parametrize(("status", "body", "kind", "text"), VENDOR_FAULTS)
async def test_vendor_fault_maps_to_kind_with_vendor_message(
    status: int, body: Any, kind: str, text: str
) -> None:
    async with make_client(Recorder(reply(status, body)), retry=RetryPolicy.off()) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/items/X9")

    error = caught.value
    assert (error.system, error.kind, error.status) == ("shopify", kind, status)
    assert text in error.message
    assert error.endpoint == "GET /items/X9"
    assert f"HTTP {status}" in str(error)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "unreachable"),
        (httpx.RemoteProtocolError("peer closed connection"), "unreachable"),
    ],
)
async def test_transport_fault_maps_to_kind_after_retries(exc: Exception, kind: str) -> None:
    handler = Recorder(exc)
    async with make_client(handler) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    assert caught.value.kind == kind
    assert caught.value.status is None
    assert type(exc).__name__ in caught.value.message
    assert len(handler.requests) == 3
    # raised outside the except block: no httpx exception (holding the request) rides along
    assert caught.value.__context__ is None and caught.value.__cause__ is None


async def test_invalid_json_on_success_is_bad_payload() -> None:
    handler = Recorder(reply(200, "<html>Please log in</html>"))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    assert caught.value.kind == "bad_payload"
    assert "invalid JSON: <html>Please log in</html>" in caught.value.message
    assert len(handler.requests) == 1


async def test_long_vendor_message_is_truncated() -> None:
    handler = Recorder(reply(500, {"message": "boom " * 500}))
    async with make_client(handler, retry=RetryPolicy.off()) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    assert len(caught.value.message) == MESSAGE_LIMIT
    assert caught.value.message.endswith("…")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (404, "not_found"), (409, "bad_payload"), (503, "server_error")],
)
def test_status_kind(status: int, kind: str) -> None:
    assert status_kind(status) == kind


async def test_get_retries_5xx_then_succeeds() -> None:
    clock = FakeClock()
    handler = Recorder(reply(503, {}), reply(503, {}), reply(200, {"ok": True}))
    async with make_client(handler, clock) as client:
        assert await client.get_json("/x") == {"ok": True}

    assert len(handler.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # interactive backoff caps: 0.5 * 2**(n-1)


async def test_retries_exhausted_on_429_is_rate_limited() -> None:
    handler = Recorder(reply(429, {"errors": [{"message": "Throttled"}]}))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    assert caught.value.kind == "rate_limited"
    assert len(handler.requests) == 3


async def test_non_idempotent_post_is_not_retried() -> None:
    handler = Recorder(reply(503, {"message": "Service Unavailable"}), reply(200, {}))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError) as caught:
            await client.post_json("/tickets", {"summary": "SKU A-1 out of stock"})

    assert caught.value.kind == "server_error"
    assert len(handler.requests) == 1
    assert json.loads(handler.requests[0].content) == {"summary": "SKU A-1 out of stock"}


@pytest.mark.parametrize(("method", "calls"), [("GET", 3), ("POST", 1), ("PUT", 1)])
async def test_raw_request_retries_only_safe_methods_by_default(method: str, calls: int) -> None:
    handler = Recorder(reply(503, {}))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError):
            await client.request(method, "/x")
    assert len(handler.requests) == calls


async def test_raw_request_returns_the_response() -> None:
    async with make_client(Recorder(reply(200, {"a": 1}, ETag='"v1"'))) as client:
        response = await client.request("GET", "/x")
    assert response.headers["ETag"] == '"v1"'


async def test_post_marked_idempotent_is_retried() -> None:
    handler = Recorder(httpx.ConnectError("refused"), reply(200, {"data": {}}))
    async with make_client(handler) as client:
        body = await client.post_json(
            "/graphql.json", {"query": "{ shop { name } }"}, idempotent=True
        )

    assert body == {"data": {}}
    assert len(handler.requests) == 2


async def test_client_errors_are_not_retried() -> None:
    handler = Recorder(reply(404, {"message": "not found"}))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError):
            await client.get_json("/x")
    assert len(handler.requests) == 1


async def test_retry_after_seconds_is_honoured() -> None:
    clock = FakeClock()
    handler = Recorder(reply(429, {}, **{"Retry-After": "2"}), reply(200, {"ok": 1}))
    async with make_client(handler, clock) as client:
        assert await client.get_json("/x") == {"ok": 1}

    assert clock.sleeps == [2.0 + retry_after_spread(2.0)]  # the jitter at the top of its range


@pytest.mark.parametrize(
    "limiter",
    [
        lambda clock: TokenBucket(rate=0.25, burst=1, clock=clock, sleep=clock.sleep),
        lambda clock: LeakyBucket(10, 0.5, clock=clock, sleep=clock.sleep),
    ],
    ids=["token-bucket", "leaky-bucket"],
)
async def test_a_429_costs_its_retry_after_not_a_bucket_refill_on_top(
    limiter: Callable[[FakeClock], RateLimiter],
) -> None:
    # A slow bucket (one request every 2–4 s) and a vendor saying "come back in 1 s": the client
    # waits 1 s and its small jitter, not the refill of the bucket as well.
    clock = FakeClock()
    handler = Recorder(reply(429, {}, **{"Retry-After": "1"}), reply(200, {"ok": 1}))
    async with make_client(handler, clock, limiter=limiter(clock)) as client:
        assert await client.get_json("/x") == {"ok": 1}
    assert len(handler.requests) == 2
    assert 1.0 <= sum(clock.sleeps) <= 1.0 + retry_after_spread(1.0)


async def test_a_429_without_retry_after_still_empties_the_bucket() -> None:
    clock = FakeClock()
    handler = Recorder(reply(429, {}), reply(200, {"ok": 1}))
    bucket = TokenBucket(rate=0.25, burst=5, clock=clock, sleep=clock.sleep)
    async with make_client(handler, clock, limiter=bucket) as client:
        assert await client.get_json("/x") == {"ok": 1}
    # The backoff (0.5 s at the top of its range), then the wait for one token at 0.25/s.
    assert clock.sleeps == [0.5, 4.0 - 0.5]


async def test_retry_after_beyond_budget_stops_without_sleeping() -> None:
    clock = FakeClock()
    handler = Recorder(reply(429, {"message": "slow down"}, **{"Retry-After": "30"}))
    async with make_client(handler, clock) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    assert caught.value.kind == "rate_limited"
    assert len(handler.requests) == 1
    assert clock.sleeps == []


async def test_total_time_budget_stops_retrying_before_attempts_run_out() -> None:
    clock = FakeClock()

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.now += 3.0  # each answer takes 3 s
        return reply(503, {})

    handler = Recorder(slow_503)
    policy = RetryPolicy(max_attempts=10, total_seconds=8.0, base_delay=0.5, max_delay=4.0)
    async with make_client(handler, clock, retry=policy) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    # t=3 wait .5, t=6.5 wait 1, t=10.5: a 2 s wait would end past 8 s
    assert caught.value.kind == "server_error"
    assert len(handler.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_per_call_retry_override() -> None:
    handler = Recorder(reply(503, {}))
    async with make_client(handler) as client:
        with pytest.raises(AdapterError):
            await client.get_json("/x", retry=RetryPolicy.off())
    assert len(handler.requests) == 1


async def test_auth_hook_runs_on_every_attempt_and_can_refresh() -> None:
    tokens = iter(["token-one-aaaa", "token-two-bbbb"])

    async def auth(request: httpx.Request) -> None:
        request.headers["X-Shopify-Access-Token"] = next(tokens)

    handler = Recorder(reply(401, {}), reply(200, {"ok": 1}))
    async with make_client(handler, auth=auth) as client:
        with pytest.raises(AdapterError):
            await client.get_json("/x")  # 401 is not retried
        assert await client.get_json("/x") == {"ok": 1}

    sent = [r.headers["X-Shopify-Access-Token"] for r in handler.requests]
    assert sent == ["token-one-aaaa", "token-two-bbbb"]


class RecordingLimiter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def acquire(self, cost: float = 1.0) -> None:
        self.calls.append(f"acquire {cost:g}")

    def observe(self, response: httpx.Response) -> None:
        self.calls.append(f"observe {response.status_code}")

    def release(self) -> None:
        self.calls.append("release")


async def test_limiter_charged_observed_and_released_per_attempt() -> None:
    limiter = RecordingLimiter()
    handler = Recorder(httpx.ConnectError("refused"), reply(200, {}))
    async with make_client(handler, limiter=limiter) as client:
        await client.post_json("/graphql.json", {"query": "{}"}, idempotent=True, cost=52)

    assert limiter.calls == ["acquire 52", "release", "acquire 52", "observe 200", "release"]


async def test_per_call_limiter_override() -> None:
    client_limiter, call_limiter = RecordingLimiter(), RecordingLimiter()
    async with make_client(Recorder(reply(200, {})), limiter=client_limiter) as client:
        await client.get_json("/x", limiter=call_limiter)

    assert client_limiter.calls == []
    assert call_limiter.calls == ["acquire 1", "observe 200", "release"]


SECRET = "CANARY-s3cr3t-7f4e9a"  # from the environment
HOOK_TOKEN = "hook-7d1c2b9e5f40"  # set by the auth hook, never given to the redactor


async def test_canary_secrets_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def auth(request: httpx.Request) -> None:
        request.headers["X-Shopify-Access-Token"] = HOOK_TOKEN

    def echo_everything(request: httpx.Request) -> httpx.Response:
        # A careless vendor echoing credentials back in its error body.
        return reply(
            503,
            {
                "errors": [
                    {
                        "message": f"bad token {HOOK_TOKEN} for key {SECRET} "
                        f"(auth={request.headers['X-Shopify-Access-Token']})"
                    }
                ]
            },
        )

    handler = Recorder(echo_everything)
    client = make_client(
        handler,
        auth=auth,
        redactor=Redactor.from_env(environ={"SHOPIFY_CLIENT_SECRET": SECRET, "HOME": "/root"}),
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    errors: list[AdapterError] = []
    async with client:
        for call in (
            client.get_json("/x", params={"access_token": SECRET}),
            client.get_json(f"/shops/{SECRET}/items"),
            client.post_json("/graphql.json", {"password": SECRET}, idempotent=True),
        ):
            with pytest.raises(AdapterError) as caught:
                await call
            errors.append(caught.value)

    assert len(handler.requests) == 9  # the secrets really went out…
    assert handler.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert handler.requests[0].headers["x-shopify-access-token"] == HOOK_TOKEN
    records = [r.getMessage() for r in caplog.records]
    assert any("retrying" in m for m in records)
    assert any("/x" in m for m in records if m.startswith("HTTP Request"))  # httpx's own log
    texts = records + [str(e) for e in errors] + [f"{e.message} {e.endpoint}" for e in errors]
    for text in texts:  # …and never came back
        assert SECRET not in text
        assert HOOK_TOKEN not in text
    assert "bad token ***" in errors[0].message


LONG_DETAIL = f"The access token {SECRET} has expired. " + "Request a new one. " * 30


@pytest.mark.parametrize(
    "body",
    [
        {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": LONG_DETAIL,
                }
            ]
        },
        {"error": {"message": "Operation Failed", "detail": LONG_DETAIL}, "status": "failure"},
    ],
    ids=["sp-api-details", "servicenow-detail"],
)
async def test_vendor_detail_is_redacted_and_truncated_with_the_message(body: Any) -> None:
    redactor = Redactor.from_env(environ={"SHOPIFY_CLIENT_SECRET": SECRET})
    handler = Recorder(reply(403, body))
    async with make_client(handler, retry=RetryPolicy.off(), redactor=redactor) as client:
        with pytest.raises(AdapterError) as caught:
            await client.get_json("/x")

    message = caught.value.message
    assert "The access token *** has expired." in message
    assert SECRET not in str(caught.value)
    assert len(message) == MESSAGE_LIMIT
    assert message.endswith("…")


async def test_an_echoed_basic_auth_password_is_masked_in_the_error_and_everywhere() -> None:
    """A server (or a proxy) that quotes the decoded Basic credential back: the password alone,
    and user:password, are masked — here and in any other redactor of the process."""

    def echo(request: httpx.Request) -> httpx.Response:
        pair = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
        return httpx.Response(401, json={"message": f"bad login {pair}, i.e. {pair.split(':')[1]}"})

    async def basic(request: httpx.Request) -> None:
        pair = base64.b64encode(b"svc.user:Echo-Basic-Pass-0193").decode()
        request.headers["Authorization"] = f"Basic {pair}"

    client = VendorClient(
        "itsm", "https://x.example", timeout=httpx.Timeout(5), auth=basic,
        transport=httpx.MockTransport(echo),
    )  # fmt: skip
    with pytest.raises(AdapterError) as caught:
        await client.get_json("/thing")
    await client.aclose()
    assert "Echo-Basic-Pass-0193" not in str(caught.value)
    assert "bad login ***" in str(caught.value)
    assert Redactor().redact("echo: Echo-Basic-Pass-0193") == "echo: ***"


async def test_oauth1_header_parts_are_masked_one_by_one() -> None:
    header = (
        'OAuth realm="1234567", oauth_consumer_key="ck-0193-abcd", oauth_token="tk-0193-efgh", '
        'oauth_signature="c2lnLTAxOTM%3D", oauth_nonce="n1"'
    )

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "got ck-0193-abcd tk-0193-efgh"})

    async def oauth(request: httpx.Request) -> None:
        request.headers["Authorization"] = header

    client = VendorClient(
        "erp", "https://x.example", timeout=httpx.Timeout(5), auth=oauth,
        transport=httpx.MockTransport(echo),
    )  # fmt: skip
    with pytest.raises(AdapterError) as caught:
        await client.get_json("/thing")
    await client.aclose()
    assert "got *** ***" in str(caught.value)


BAD_GATEWAY_PAGE = (
    """<!DOCTYPE html>
<html>
<head><title>502 Bad Gateway &mdash; upstream</title>
<style>body { font-family: sans-serif; }</style></head>
<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response
from an upstream server.</p><hr><address>nginx/1.25.3</address>
"""
    + "<p>padding</p>\n" * 400
    + "</body></html>"
)


@pytest.mark.parametrize(
    ("page", "headers", "summary"),
    [
        (
            BAD_GATEWAY_PAGE,
            {"content-type": "text/html"},
            "HTML error page: 502 Bad Gateway — upstream",
        ),
        (BAD_GATEWAY_PAGE, {}, "HTML error page: 502 Bad Gateway — upstream"),
        (
            "<html><body><h1>Service <b>Unavailable</b></h1></body></html>",
            {},
            "HTML error page: Service Unavailable",
        ),
        (
            "<html><body><p>down</p></body></html>",
            {"content-type": "text/html"},
            "HTML error page (no title)",
        ),
    ],
)
async def test_an_html_error_page_becomes_one_summarised_line(
    page: str, headers: dict[str, str], summary: str
) -> None:
    handler = Recorder(reply(502, page, **headers))
    async with make_client(handler, retry=RetryPolicy.off()) as client:
        with pytest.raises(AdapterError) as raised:
            await client.get_json("/flows")
    error = raised.value
    assert (error.kind, error.status, error.message) == ("server_error", 502, summary)
    assert "<" not in error.describe() and "\n" not in error.describe()
