"""The one place vendor HTTP clients are built, and where HTTP faults become ``AdapterError``.

A ``VendorClient`` wraps ``httpx.AsyncClient`` with what every adapter needs: a base URL, an
explicit per-vendor timeout, an injectable transport (emulators and tests), an async auth hook
that sets credentials on each attempt (so it can refresh tokens), a rate limiter
(``tools.ratelimit``) and a retry policy (``tools.retry``). Each attempt goes

    limiter.acquire(cost) → auth hook → send → limiter.observe(response) → limiter.release()

and the attempts are retried for idempotent requests only. What is left at the end maps to

    httpx.TimeoutException, HTTP 408     timeout
    other transport errors               unreachable
    HTTP 401 / 403                       auth
    HTTP 404 / 410                       not_found
    HTTP 429                             rate_limited   (after retries)
    HTTP 5xx                             server_error   (after retries)
    other non-2xx, JSON we cannot parse  bad_payload

Messages carry the vendor's own error text (with its detail, such as SP-API's ``details`` or
ServiceNow's ``detail``), redacted and cut to ``MESSAGE_LIMIT`` characters;
every log line goes through the same redaction. Credentials that the auth hook sets are added
to the redactor as they appear, so a refreshed token is masked too.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, NoReturn, Self

import httpx

from tools import observe, redact
from tools.errors import AdapterError, ErrorKind
from tools.ratelimit import NoLimit, RateLimiter
from tools.retry import (
    Clock,
    Jitter,
    RetryEvent,
    RetryPolicy,
    Sleep,
    full_jitter,
    send_with_retries,
)

AuthHook = Callable[[httpx.Request], Awaitable[None]]
Params = Mapping[str, str | int | float | bool | None]

MESSAGE_LIMIT = 300

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_SENSITIVE_HEADER = re.compile(r"authorization|token|secret|key|signature|cookie|session", re.I)


class AsyncClosing:
    """``async with`` for an object with an ``aclose()``: the client, and the adapters over it."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError


class VendorClient(AsyncClosing):
    """An HTTP client for one vendor system, e.g. ``VendorClient("shopify", url, timeout=…)``."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        timeout: httpx.Timeout,
        auth: AuthHook | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        redactor: redact.Redactor | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        jitter: Jitter = full_jitter,
    ) -> None:
        self.system = system
        self.retry = retry or RetryPolicy.interactive()
        self.limiter: RateLimiter = limiter or NoLimit()
        self.redactor = redactor or redact.Redactor()
        self._auth = auth
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers=headers,
            follow_redirects=False,
        )
        self._remember_credentials(headers or {})
        self._log = logging.getLogger(f"tools.http.{system}")
        # httpx logs every request URL at INFO; query strings can hold tokens.
        for logger in (self._log, logging.getLogger("httpx"), logging.getLogger("httpcore")):
            redact.install(logger, self.redactor)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        cost: float = 1.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> httpx.Response:
        """Send a request and return its 2xx response, or raise ``AdapterError``.

        ``idempotent`` defaults to True for GET/HEAD/OPTIONS only; pass True for a POST that only
        reads. ``content`` sends raw bytes, ``files`` a multipart form (name → (filename, bytes,
        content type)), for uploads such as ticket attachments. ``cost`` is what the limiter
        charges (Shopify: the expected query cost);
        ``retry`` and ``limiter`` override the client's for this call (e.g. a scan, or one
        SP-API operation's bucket).
        """
        method = method.upper()
        endpoint = self.redactor.redact(f"{method} {path}")
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        use_limiter = limiter or self.limiter

        def build() -> httpx.Request:
            return self._http.build_request(
                method,
                path,
                params=params,
                json=json,
                content=content,
                files=files,
                headers=headers,
            )

        async def attempt() -> httpx.Response:
            return await self._attempt(use_limiter, cost, endpoint, build)

        return await self._send(
            attempt, retry or self.retry, idempotent=idempotent, endpoint=endpoint
        )

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """GET ``path`` and yield its 2xx response with the body unread, for bodies too large to
        hold (a bulk export): iterate ``response.aiter_lines()`` inside the ``async with``.

        Retried like ``request``'s GETs (transport errors, 429, 5xx) until a status line comes
        back; an error status raises ``AdapterError``. A fault while the body streams is not
        retried (the caller has used part of it) and becomes an ``AdapterError`` too.
        """
        endpoint = self.redactor.redact(f"GET {path}")
        use_limiter = limiter or self.limiter

        def build() -> httpx.Request:
            return self._http.build_request("GET", path, params=params, headers=headers)

        async def attempt() -> httpx.Response:
            response = await self._attempt(use_limiter, 1.0, endpoint, build, stream=True)
            if not response.is_success:
                await response.aread()  # a short error body, for the retry and the message
                await response.aclose()
            return response

        response = await self._send(
            attempt, retry or self.retry, idempotent=True, endpoint=endpoint
        )
        fault: AdapterError | None = None
        try:
            yield response
        except httpx.RequestError as exc:  # the body broke off midway
            fault = self._transport_fault(exc, endpoint)
        finally:
            await response.aclose()
        if fault is not None:
            self._fail(fault)

    async def get_json(
        self,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        cost: float = 1.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> Any:
        """GET ``path`` and return its decoded JSON (None for an empty body); retried."""
        response = await self.request(
            "GET", path, params=params, headers=headers, cost=cost, retry=retry, limiter=limiter
        )
        return self._decode(response, f"GET {path}")

    async def post_json(
        self,
        path: str,
        body: Any,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
        cost: float = 1.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> Any:
        """POST ``body`` as JSON and return the decoded answer; retried only if ``idempotent``."""
        response = await self.request(
            "POST",
            path,
            params=params,
            json=body,
            headers=headers,
            idempotent=idempotent,
            cost=cost,
            retry=retry,
            limiter=limiter,
        )
        return self._decode(response, f"POST {path}")

    async def _attempt(
        self,
        limiter: RateLimiter,
        cost: float,
        endpoint: str,
        build: Callable[[], httpx.Request],
        *,
        stream: bool = False,
    ) -> httpx.Response:
        """One attempt: limiter.acquire(cost) → auth hook → send → observe → limiter.release()."""
        await limiter.acquire(cost)
        try:
            request = build()
            await self._authorize(request)
            started = self._clock()
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.RequestError as exc:
                took = self._clock() - started
                observe.report(
                    observe.VendorCall(self.system, endpoint, None, type(exc).__name__, took)
                )
                raise
            took = self._clock() - started
            observe.report(
                observe.VendorCall(self.system, endpoint, response.status_code, None, took)
            )
            limiter.observe(response)
        finally:
            limiter.release()
        self._log.debug(
            "%s %s -> %s in %.2fs",
            self.system,
            endpoint,
            response.status_code,
            self._clock() - started,
        )
        return response

    async def _send(
        self,
        attempt: Callable[[], Awaitable[httpx.Response]],
        policy: RetryPolicy,
        *,
        idempotent: bool,
        endpoint: str,
    ) -> httpx.Response:
        """Run ``attempt`` under ``policy`` and return its 2xx response, or raise ``AdapterError``."""

        def log_retry(event: RetryEvent) -> None:
            self._log.warning(
                "%s %s: %s, attempt %d/%d failed, retrying in %.2fs",
                self.system,
                endpoint,
                event.reason,
                event.attempt,
                event.max_attempts,
                event.wait,
            )

        try:
            response = await send_with_retries(
                attempt,
                policy,
                idempotent=idempotent,
                sleep=self._sleep,
                clock=self._clock,
                jitter=self._jitter,
                on_retry=log_retry,
            )
        except httpx.RequestError as exc:
            fault = self._transport_fault(exc, endpoint)
        else:
            if response.is_success:
                return response
            fault = self._status_fault(response, endpoint)
        self._fail(fault)

    def _fail(self, fault: AdapterError) -> NoReturn:
        # Called outside except blocks: the httpx exception holds the request and its credential
        # headers, and must not be chained onto the error.
        self._log.warning("%s", fault)
        raise fault

    async def _authorize(self, request: httpx.Request) -> None:
        if self._auth is None:
            return
        before = dict(request.headers)
        await self._auth(request)
        self._remember_credentials({k: v for k, v in request.headers.items() if before.get(k) != v})

    def _remember_credentials(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            if not _SENSITIVE_HEADER.search(name):
                continue
            # The lasting secrets inside (a Basic password, OAuth 1.0 token and consumer key)
            # are the process's: masked in every output, whichever client meets an echo.
            redact.register(*credential_parts(value))
            if value.partition(" ")[0].lower() != "oauth":
                # "Bearer abc" → mask "abc" wherever it shows up on its own, too. (An OAuth 1.0
                # header changes with every request: remembering each would grow without end.)
                self.redactor.add(value, value.partition(" ")[2])

    def _decode(self, response: httpx.Response, endpoint: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            fault = self._error(
                "bad_payload",
                f"invalid JSON: {_snippet(response.text)}",
                response.status_code,
                self.redactor.redact(endpoint),
            )
        self._fail(fault)

    def _transport_fault(self, exc: httpx.RequestError, endpoint: str) -> AdapterError:
        kind: ErrorKind
        if isinstance(exc, httpx.TimeoutException):
            kind = "timeout"
        elif isinstance(exc, httpx.DecodingError):
            kind = "bad_payload"
        else:
            kind = "unreachable"
        detail = str(exc) or "no detail"
        return self._error(kind, f"{type(exc).__name__}: {detail}", None, endpoint)

    def _status_fault(self, response: httpx.Response, endpoint: str) -> AdapterError:
        message = vendor_message(response) or response.reason_phrase or "no detail"
        return self._error(
            status_kind(response.status_code), message, response.status_code, endpoint
        )

    def _error(
        self, kind: ErrorKind, message: str, status: int | None, endpoint: str
    ) -> AdapterError:
        text = _truncate(self.redactor.redact(message))
        return AdapterError(self.system, kind, text, status=status, endpoint=endpoint)


def status_kind(status: int) -> ErrorKind:
    """The ``AdapterError`` kind for a non-2xx HTTP status."""
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "bad_payload"


def vendor_message(response: httpx.Response) -> str:
    """The vendor's own error text from a response body (unredacted, untruncated); an HTML page
    (a proxy's or load balancer's 502) is summarised as one line, its title, never the page."""
    try:
        body = response.json()
    except ValueError:
        if _is_html(response):
            return html_summary(response.text)
        return _snippet(response.text)
    return _message_in(body) or _snippet(response.text)


_HTML_START = re.compile(r"^\s*(<!doctype html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.I)
_HTML_HEADING = re.compile(r"<(title|h1|h2)[^>]*>(.*?)</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def _is_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    return "html" in kind or bool(_HTML_START.match(response.text[:200]))


def html_summary(page: str) -> str:
    """``HTML error page: 502 Bad Gateway`` from the page's title (else first heading)."""
    for _tag, text in _HTML_HEADING.findall(page[:20_000]):
        words = " ".join(html.unescape(_TAG.sub(" ", text)).split())
        if words:
            return f"HTML error page: {words[:120]}"
    return "HTML error page (no title)"


_NESTED_KEYS = ("o:errorDetails", "errors", "errorMessages", "error", "fault", "Fault")
_TEXT_KEYS = ("message", "detail", "description", "error_description", "value", "title")
_CODE_KEYS = ("code", "o:errorCode", "errorCode")
# Said next to the message: SP-API's errors[].details, ServiceNow's error.detail.
_DETAIL_KEYS = ("details", "detail")


def _message_in(data: Any) -> str:
    """Walks the common vendor error shapes; see the tests for each vendor's example."""
    if isinstance(data, str):
        return data.strip()
    if isinstance(data, list):
        return "; ".join(m for m in (_message_in(item) for item in data[:3]) if m)
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("error"), str) and isinstance(data.get("error_description"), str):
        return f"{data['error']}: {data['error_description']}"  # OAuth 2.0 token endpoints
    for key in _NESTED_KEYS:
        if data.get(key) and (message := _message_in(data[key])):
            return message
    if isinstance(data.get("title"), str) and isinstance(data.get("detail"), str):
        return f"{data['title']}: {data['detail']}"  # RFC 7807 problem details
    for key in _TEXT_KEYS:
        if data.get(key) and (message := _message_in(data[key])):
            code = next((data[c] for c in _CODE_KEYS if isinstance(data.get(c), str)), "")
            if code and code not in message:
                message = f"{code}: {message}"
            return _with_detail(message, data, key)
    return ""


def _with_detail(message: str, data: Mapping[str, Any], used: str) -> str:
    """``message`` with the entry's own detail after it, e.g. SP-API's "The access token has
    expired" or ServiceNow's "Data Policy Exception: …"."""
    for key in _DETAIL_KEYS:
        detail = data.get(key)
        if key == used or not isinstance(detail, str) or not (detail := detail.strip()):
            continue
        if detail in message:
            return message
        separator = " " if message.endswith((".", "!", "?")) else ": "
        return f"{message}{separator}{detail}"
    return message


def _snippet(text: str) -> str:
    # Generous cut: the message is redacted before it is truncated to MESSAGE_LIMIT, so a
    # secret is never split by the cut that matters.
    return " ".join(text[:10_000].split())


def _truncate(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def credential_parts(value: str) -> tuple[str, ...]:
    """The secrets inside an Authorization value, each of which an echo may quote alone: the
    password (and user:password pair) of ``Basic …``; the token id and consumer key of an
    OAuth 1.0 ``OAuth …`` header (its signature is single-use, bound to a nonce)."""
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "oauth":
        params = dict(_OAUTH_PARAM.findall(rest))
        return tuple(v for k in ("oauth_token", "oauth_consumer_key") if (v := params.get(k)))
    if scheme.lower() != "basic":
        return ()
    try:
        pair = base64.b64decode(rest.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ()
    _user, colon, password = pair.partition(":")
    return (pair, password) if colon else ()
