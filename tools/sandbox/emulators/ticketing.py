"""What the ticket-system emulators (Jira, ServiceNow) share: every request recorded, and the
faults applied in one order before a route answers.

A ``TicketEmulator`` answers each request thus: record it (``requests``); sleep the shared
``Faults`` latency; time out when told; answer ``outage`` (every call, until it is cleared: the
system is down) or the next scripted status (with its ``Retry-After``); authenticate; answer 200
with a page that is not JSON when ``malformed``; route; and, while ``lose_responses`` is above
zero, carry out a create but lose its answer in a timeout (the case that makes blind retries
open duplicates). A subclass says how its vendor authenticates, routes and words a refusal.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from tools.retry import Sleep
from tools.sandbox.emulators.faults import Faults

# What a route answers: a status, the JSON body (None: no body) and any extra headers.
Routed = tuple[int, Any, dict[str, str]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Refusal(Exception):
    """An error answer; each vendor's subclass renders its own error body."""

    status: int

    def body(self) -> dict[str, Any]:
        raise NotImplementedError


class TicketEmulator(httpx.AsyncBaseTransport):
    vendor: ClassVar[str]  # in the emulated timeout's message
    created: ClassVar[str]  # what a create makes, in the lost answer's message
    create_path: ClassVar[str]  # where a POST creates one
    maintenance_page: ClassVar[bytes]  # the body of a ``malformed`` answer

    def __init__(self, *, faults: Faults | None, sleep: Sleep = asyncio.sleep) -> None:
        self.faults = faults or Faults()
        self.outage: int | None = None
        self.lose_responses = 0
        self.requests: list[Recorded] = []
        self._sleep = sleep

    # --- what a vendor says ----------------------------------------------------------------

    def _refusal(self, status: int, *, outage: bool) -> Refusal:
        """The answer to a scripted error status, or to every call while ``outage`` is set."""
        raise NotImplementedError

    def _authenticate(self, request: httpx.Request) -> None:
        """Raise a ``Refusal`` unless the request carries the emulator's credentials."""
        raise NotImplementedError

    def _route(self, request: httpx.Request, path: str, body: bytes) -> Routed:
        raise NotImplementedError

    # --- transport -------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        path = request.url.path
        self.requests.append(
            Recorded(
                request.method,
                path,
                dict(request.url.params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        if self.faults.latency:
            await self._sleep(self.faults.latency)
        if self.faults.timeout:
            raise httpx.ReadTimeout(f"emulated {self.vendor} timeout", request=request)
        if self.outage is not None:
            return self._error(request, self._refusal(self.outage, outage=True))
        scripted = self.faults.next_status()
        if scripted is not None and scripted.status >= 400:
            return self._error(
                request, self._refusal(scripted.status, outage=False), scripted.retry_after
            )
        try:
            self._authenticate(request)
            if self.faults.malformed:
                return httpx.Response(200, content=self.maintenance_page, request=request)
            status, answer, headers = self._route(request, path, body)
        except Refusal as exc:
            return self._error(request, exc)
        if (
            self.lose_responses > 0
            and request.method == "POST"
            and path == self.create_path
            and status == 201
        ):
            self.lose_responses -= 1
            raise httpx.ReadTimeout(
                f"emulated: the {self.created} was created, the answer lost", request=request
            )
        if answer is None:
            return httpx.Response(status, request=request)
        return httpx.Response(
            status,
            headers={"Content-Type": "application/json", **headers},
            content=json.dumps(answer).encode(),
            request=request,
        )

    def _error(
        self, request: httpx.Request, refusal: Refusal, retry_after: float | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return httpx.Response(
            refusal.status,
            headers=headers,
            content=json.dumps(refusal.body()).encode(),
            request=request,
        )
