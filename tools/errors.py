"""Typed failures an adapter raises when a system cannot be read.

The engine never sees an HTTP exception: adapters turn every transport or vendor fault into an
``AdapterError`` whose ``kind`` says what went wrong in words an operator acts on, and the
engine turns it into ``unknown`` checks and an ``inconclusive`` verdict where it matters.

    AdapterError
      kind = timeout        the system did not answer in time
      kind = unreachable    connection refused, DNS, TLS
      kind = auth           401/403, expired or revoked token, missing credentials
      kind = rate_limited   429 after the retry budget ran out
      kind = server_error   5xx after the retry budget ran out
      kind = not_found      the SKU (or record) does not exist in that system
      kind = bad_payload    the answer did not have the shape the vendor documents
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "timeout", "unreachable", "auth", "rate_limited", "server_error", "not_found", "bad_payload"
]

_PLAIN_WORDS: dict[str, str] = {
    "timeout": "did not answer in time",
    "unreachable": "could not be reached",
    "auth": "refused our credentials",
    "rate_limited": "kept rate-limiting us",
    "server_error": "returned a server error",
    "not_found": "has no record of it",
    "bad_payload": "returned an answer we could not read",
}


class AdapterError(Exception):
    """A system could not be read. Never carries a credential: messages are redacted upstream."""

    def __init__(
        self,
        system: str,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.system = system
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status
        self.endpoint = endpoint
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line an operator can act on, e.g. 'netsuite refused our credentials (HTTP 401: …)'."""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{self.system} {_PLAIN_WORDS[self.kind]} ({status}{self.message})"
