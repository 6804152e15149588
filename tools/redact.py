"""Credential redaction for every log line and error message the HTTP layer produces.

A ``Redactor`` masks two things: the exact secret values it is given (read from the environment
at start-up, plus every credential an auth hook puts on a request) and, as a second net, the
shapes credentials take in headers, query strings and JSON bodies (``Authorization: …``,
``Bearer …``, ``access_token=…``, ``"password": "…"``, OAuth 1.0 ``oauth_signature="…"``,
``x-amz-access-token``, ``X-Shopify-Access-Token``, user:password in URLs).

What is a secret is one process-wide registry (``SECRETS``), kept apart from how text is masked:
every value any redactor is given (``Redactor.add``, ``register``) — an auth hook's header, a
Basic-auth password, an LWA refresh token, the Slack and model keys — is registered there, and
every redactor, whoever built it, masks every registered value. So a credential one client
learnt is masked in another client's error, a ticket body, a Slack message or the log.

``RedactingFilter`` applies a redactor to std ``logging`` records; ``install`` puts one on a
logger or handler (the composition root may also put one on the root handlers).
"""

from __future__ import annotations

import logging
import os
import re
import weakref
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
    """The secret values known to this process; every live ``Redactor`` is told of each."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._members: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def register(self, *values: str) -> None:
        fresh = {v.strip() for v in values if len(v.strip()) >= _MIN_SECRET_LEN} - self._values
        if not fresh:
            return
        self._values |= fresh
        for member in list(self._members):
            member._learn(fresh)

    def join(self, redactor: Redactor) -> None:
        self._members.add(redactor)
        redactor._learn(self._values)


SECRETS = SecretRegistry()


def register(*values: str) -> None:
    """Say that ``values`` are secrets: every redactor in the process masks them from now on."""
    SECRETS.register(*values)


class Redactor:
    """Masks known secret values and common credential shapes in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        SECRETS.join(self)
        self.add(*secrets)

    @classmethod
    def from_env(
        cls, names: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Redactor:
        """A redactor for the values of ``names``, or of every variable named like a secret."""
        env = os.environ if environ is None else environ
        if names is not None:
            return cls(env[name] for name in names if name in env)
        return cls(value for name, value in env.items() if _SECRET_ENV_NAME.search(name.upper()))

    def add(self, *secrets: str) -> None:
        """Remember more secret values, e.g. a token fetched after start-up (registered for
        the whole process: see ``SecretRegistry``)."""
        SECRETS.register(*secrets)

    def _learn(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def redact(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        text = _AUTHORIZATION.sub(rf"\g<key>{MASK}", text)
        text = _KEY_VALUE.sub(_mask_value, text)
        text = _BEARER.sub(rf"\g<key>{MASK}", text)
        text = _TOKEN_SHAPES.sub(MASK, text)
        return _URL_USERINFO.sub(rf"\g<key>{MASK}@", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and formatted traceback) through one or more redactors.

    Redactors added with ``add`` are held weakly: a per-client redactor leaves the filter when
    its client is garbage-collected, so shared loggers do not pile up redactors.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._more: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def add(self, redactor: Redactor) -> None:
        if redactor is not self.redactor:
            self._more.add(redactor)

    def redact(self, text: str) -> str:
        for redactor in [self.redactor, *self._more]:
            text = redactor.redact(text)
        return text

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
    """Redact what ``target`` emits with ``redactor`` (joining an existing filter, if any)."""
    for existing in target.filters:
        if isinstance(existing, RedactingFilter):
            existing.add(redactor)
            return
    target.addFilter(RedactingFilter(redactor))


def install_on_root() -> None:
    """Redact everything the root logger's handlers write (stderr with ``-v``, a log file):
    every record of every library, with every registered secret and secret-named variable."""
    redactor = Redactor.from_env()
    for handler in logging.getLogger().handlers:
        install(handler, redactor)
