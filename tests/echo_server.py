"""A hostile server on 127.0.0.1 that refuses every request and echoes, in its error body, every
credential it received: the Authorization header, the password inside Basic auth, token and key
headers, and the form fields of an OAuth token request. It speaks just enough of each
system's error shape for its client to read the message (a vendor's ``errors``/``message``,
Slack's ``{"ok": false, "error"}``, OpenAI's ``{"error": {"message"}}``) — the case of an API,
or a proxy in front of it, that quotes back what it was sent.

The echo is raw values in prose ("rejected: <value>"), not ``token=<value>``: only knowing the
value makes it maskable, never the credential shapes' patterns.

``EchoServer`` runs in a thread of its own (the CLI under test runs its own event loop, or is a
subprocess) and stops when the test's ``with`` block ends.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.threaded_server import ThreadedServer

LWA_PATH = "/auth/o2/token"
ISSUED_ACCESS_TOKEN = "Atza|echo-issued-access-token-0042"
_CREDENTIAL_HEADER = ("authorization", "token", "key", "secret", "signature", "cookie")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class EchoServer:
    requests: list[Received] = field(default_factory=list)
    _lwa_refusals_left: int = 1
    _server: ThreadedServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def __enter__(self) -> EchoServer:
        self._server = ThreadedServer(self._answer, name="the echo server").__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.__exit__(None, None, None)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = (await request.read()).decode(errors="replace")
        self.requests.append(Received(request.method, request.path, dict(request.headers), body))
        echoed = " ".join(_credentials(request.headers, body, dict(request.query)))
        message = f"rejected: the credentials {echoed} are not valid here"
        if request.path.endswith(LWA_PATH):
            if self._lwa_refusals_left > 0:
                self._lwa_refusals_left -= 1
                return web.json_response(
                    {"error": "invalid_client", "error_description": message}, status=401
                )
            return web.json_response(
                {"access_token": ISSUED_ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600}
            )
        if request.path.startswith("/slack/api/"):
            # a Slack Web API method (chat.postMessage, auth.test …): 200 with ok=false
            return web.json_response({"ok": False, "error": message})
        if request.path.endswith("/chat/completions") or request.path.endswith("/responses"):
            return web.json_response(
                {"error": {"message": message, "type": "invalid_request_error", "code": None}},
                status=401,
            )
        return web.json_response(
            {
                "errors": [{"message": message, "code": "UNAUTHORIZED", "details": message}],
                "errorMessages": [message],
                "error": {"message": message, "detail": message},
                "message": message,
            },
            status=401,
        )


def _credentials(headers: Any, body: str, query: dict[str, str]) -> list[str]:
    found: list[str] = []
    for name, value in headers.items():
        if not any(part in name.lower() for part in _CREDENTIAL_HEADER):
            continue
        found.append(value)
        scheme, _, rest = value.partition(" ")
        if rest:
            found.append(rest)
        if scheme.lower() == "basic":
            pair = base64.b64decode(rest).decode(errors="replace")
            found += [pair, pair.partition(":")[2]]
        if scheme.lower() == "oauth":  # OAuth 1.0: each parameter's value
            for part in rest.split(","):
                found.append(part.partition("=")[2].strip().strip('"'))
    for _name, value in [*parse_qsl(body), *query.items()]:
        found.append(value)
    if body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found += [str(v) for k, v in data.items() if "token" in k or "secret" in k]
    return [f for f in found if f]
