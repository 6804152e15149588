"""Credential redaction for every log line and error message the HTTP layer produces.

A ``Redactor`` masks two things: the exact secret values it is given (read from the environment
at start-up, plus every credential an auth hook puts on a request) and, as a second net, the
shapes credentials take in headers, query strings and JSON bodies (``Authorization: …``,
``Bearer …``, ``access_token=…``, ``"password": "…"``, OAuth 1.0 ``oauth_signature="…"``,
``x-amz-access-token``, ``X-Shopify-Access-Token``, user:password in URLs).

What is a secret is one process-wide registry (``SECRETS``), kept apart from how text is masked:
every value any redactor is given (``Redactor.add``, ``register``) — an auth hook's header, a
Basic-auth password, an LWA refresh token, the Slack and model keys — is registered there, and
every redactor, whoever built it, masks every registered value with one compiled pattern. So a
credential one client learnt is masked in another client's error, a ticket body, a Slack
message or the log, and a log record costs one pass however many clients are alive.

``RedactingFilter`` applies a redactor to std ``logging`` records; ``install`` puts one on a
logger or handler (the composition root may also put one on the root handlers).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MASK = "***"

# Shorter values ("1", "yes") would blank out ordinary words all over the logs.
_MIN_SECRET_LEN = 4

_SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL")

_SECRET_KEYS = (
    r"x-amz-access-token|x-amz-security-token|x-shopify-access-token|x-api-key"
    r"|access[_-]?token|refresh[_-]?token|id[_-]?token|session[_-]?token|auth[_-]?token"
    r"|client[_-]?secret|consumer[_-]?secret|token[_-]?secret|aws_secret_access_key"
    r"|api[_-]?key|private[_-]?key|oauth_signature|oauth_token|password|passwd|secret|token"
)

# key, separator, then a quoted value (escapes allowed) or a bare one up to a delimiter.
_KEY_VALUE = re.compile(
    rf"(?P<key>\b(?:{_SECRET_KEYS})\b[\"']?\s*[:=]\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\"'&\s,;}}<>]+)",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    r"(?P<key>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+", re.IGNORECASE
)
_BEARER = re.compile(r"\b(?P<key>bearer\s+)[A-Za-z0-9\-._~+/|]{8,}=*", re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"\bshp(?:at|ca|pa|ss|ua)_[A-Za-z0-9]{16,}"  # Shopify access tokens
    r"|\bAtz[ar]\|[^\s\"'&,;]+"  # Login with Amazon access / refresh tokens
)
_URL_USERINFO = re.compile(r"(?P<key>://)[^/\s:@]+:[^/\s@]+@")


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote_char = value[0] if value[:1] in {'"', "'"} else ""
    return f"{match.group('key')}{quote_char}{MASK}{quote_char}"


class SecretRegistry:
    """The secret values known to this process, and one pattern matching them all."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *values: str) -> None:
        fresh = {v.strip() for v in values if len(v.strip()) >= _MIN_SECRET_LEN}
        fresh = {
            f for secret in fresh for f in (secret, quote(secret, safe=""), quote_plus(secret))
        }
        if fresh - self._values:
            self._values |= fresh
            self._pattern = None

    def clear(self) -> None:
        """Forget every value (tests: each starts from a process with nothing registered)."""
        self._values.clear()
        self._pattern = None

    def mask(self, text: str) -> str:
        """``text`` with every registered value masked, in one pass."""
        if not self._values:
            return text
        if self._pattern is None:
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(MASK, text)


SECRETS = SecretRegistry()


def register(*values: str) -> None:
    """Say that ``values`` are secrets: every redactor in the process masks them from now on."""
    SECRETS.register(*values)


class Redactor:
    """Masks known secret values (the process's ``SECRETS``) and common credential shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.add(*secrets)

    @classmethod
    def from_env(
        cls, names: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Redactor:
        """A redactor that also knows the values of ``names``, or of every variable named like
        a secret."""
        env = os.environ if environ is None else environ
        if names is not None:
            return cls(env[name] for name in names if name in env)
        return cls(value for name, value in env.items() if _SECRET_ENV_NAME.search(name.upper()))

    def add(self, *secrets: str) -> None:
        """Remember more secret values, e.g. a token fetched after start-up (registered for
        the whole process: see ``SecretRegistry``)."""
        SECRETS.register(*secrets)

    def redact(self, text: str) -> str:
        text = SECRETS.mask(text)
        text = _AUTHORIZATION.sub(rf"\g<key>{MASK}", text)
        text = _KEY_VALUE.sub(_mask_value, text)
        text = _BEARER.sub(rf"\g<key>{MASK}", text)
        text = _TOKEN_SHAPES.sub(MASK, text)
        return _URL_USERINFO.sub(rf"\g<key>{MASK}@", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and formatted traceback) through a redactor: one pass
    per record, whatever the number of clients alive (they share ``SECRETS``)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def redact(self, text: str) -> str:
        return self.redactor.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(target: logging.Logger | logging.Handler, redactor: Redactor) -> None:
    """Redact what ``target`` emits with ``redactor``, once: a target already redacting masks
    every registered secret already, this redactor's included."""
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(RedactingFilter(redactor))
