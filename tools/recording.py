"""Record what vendors answered, at the httpx transport, and serve it back.

``RecordingTransport`` wraps the transport an adapter would use (the network, or an emulator)
and keeps every exchange: the request's method, URL and body, the response's status, the
headers an adapter reads (content type, paging ``Link``, ``Retry-After``, rate-limit headers)
and the body. ``ReplayTransport`` answers an adapter's requests from such a list, so the same
adapters read the same answers again, with no network.

Everything kept goes through a ``Masker`` first: credentials are removed (the values of the
config's credential variables, plus every shape ``tools.redact`` knows: bearer tokens,
``access_token`` fields, signatures in URLs) and personal data is masked (e-mail addresses and
IP addresses become stable stand-ins, the same value always the same stand-in, so a masked
address still pairs with itself across systems). Request headers are never kept.

Replay matches a request to the first unused recording with the same system, method and path,
preferring the one whose query string and body are equal (then the longest shared body
prefix): concurrent requests may arrive in another order than they were recorded, and a
retried request takes the next recording in turn (a 429 first, then the 200).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict

from tools.redact import MASK, Redactor

# Response headers an adapter reads; the rest (cookies, trace ids, server banners) are dropped.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "link",
        "retry-after",
        "x-amzn-ratelimit-limit",
        "x-shopify-shop-api-call-limit",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    }
)
_SECRET_PARAM = re.compile(r"signature|credential|token|secret|password|key|auth", re.I)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@(?!example\.invalid\b)[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(
    r"\b(?!192\.0\.2\.)(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b"
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()


class Masker:
    """Removes credentials and masks personal data in everything a case file keeps."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()

    def text(self, text: str) -> str:
        return self.personal(self.redactor.redact(text))

    def personal(self, text: str) -> str:
        """Only the personal data masked (for text that holds no credential, such as a config
        that names credential variables)."""
        text = _EMAIL.sub(lambda m: f"person-{_digest(m[0])[:8]}@example.invalid", text)
        return _IPV4.sub(lambda m: f"192.0.2.{int(_digest(m[0])[:2], 16) % 254 + 1}", text)

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [
            (k, MASK if _SECRET_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        netloc = parts.netloc.rpartition("@")[2]  # user:password@ never kept
        return self.text(urlunsplit(parts._replace(netloc=netloc, query=urlencode(query))))

    def json(self, value: Any) -> Any:
        """A JSON-like value with every string in it masked (keys included)."""
        return json.loads(self.text(json.dumps(value, ensure_ascii=False)))


class Exchange(BaseModel):
    """One request an adapter sent and the answer it got, as a case file keeps them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str  # the stack config's key: storefront, marketplace:amazon, middleware, erp
    method: str
    url: str
    request: str | None = None  # the body sent, as text
    status: int
    headers: dict[str, str] = {}
    json_body: Any = None  # the answer, when it was JSON …
    text_body: str | None = None  # … or as text (None: an empty body)

    def content(self) -> bytes:
        if self.text_body is not None:
            return self.text_body.encode()
        if self.json_body is None:
            return b""
        return json.dumps(self.json_body).encode()


def _body(content: bytes) -> str | None:
    return content.decode("utf-8", errors="replace") if content else None


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to ``inner`` and appends each exchange, masked, to ``exchanges``."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        system: str,
        masker: Masker,
        exchanges: list[Exchange],
    ) -> None:
        self.inner = inner
        self.system = system
        self.masker = masker
        self.exchanges = exchanges

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = await request.aread()
        response = await self.inner.handle_async_request(request)
        try:
            content = await response.aread()  # decoded: the content-encoding is dropped below
        finally:
            await response.aclose()
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
        answer = _body(content)
        json_body: Any = None
        text_body: str | None = None
        if answer is not None:
            try:
                json_body = self.masker.json(json.loads(answer))
            except ValueError:
                text_body = self.masker.text(answer)
        self.exchanges.append(
            Exchange(
                system=self.system,
                method=request.method,
                url=self.masker.url(str(request.url)),
                request=None if (body := _body(sent)) is None else self.masker.text(body),
                status=response.status_code,
                headers={k: self.masker.text(v) for k, v in headers.items()},
                json_body=json_body,
                text_body=text_body,
            )
        )
        return httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS],
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers ``system``'s requests from recorded exchanges; one with no recording left fails
    to connect (the adapter then reports the system unreachable, as it would live)."""

    def __init__(self, system: str, exchanges: list[Exchange], masker: Masker | None = None):
        self.system = system
        self.masker = masker or Masker()
        self.pending = [e for e in exchanges if e.system == system]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = _body(await request.aread())
        url = self.masker.url(str(request.url))
        body = None if sent is None else self.masker.text(sent)
        path = urlsplit(url).path
        candidates = [
            e for e in self.pending if e.method == request.method and urlsplit(e.url).path == path
        ]
        if not candidates:
            raise httpx.ConnectError(
                f"the case file has no recorded answer for {request.method} {path}",
                request=request,
            )
        best = max(candidates, key=lambda e: _likeness(e, url, body))
        self.pending.remove(best)
        return httpx.Response(
            best.status, headers=best.headers, content=best.content(), request=request
        )


def _likeness(e: Exchange, url: str, body: str | None) -> tuple[bool, bool, int]:
    same_query = sorted(parse_qsl(urlsplit(e.url).query)) == sorted(parse_qsl(urlsplit(url).query))
    shared = 0
    for a, b in zip(e.request or "", body or "", strict=False):
        if a != b:
            break
        shared += 1
    return (e.request == body and same_query, e.request == body, shared)
