"""Credential redaction for every log line and error message the HTTP layer produces.

A ``Redactor`` masks two things: the exact secret values it is given (read from the environment
at start-up, plus every credential an auth hook puts on a request) and, as a second net, the
shapes credentials take in headers, query strings and JSON bodies (``Authorization: …``,
``Bearer …``, ``access_token=…``, ``"password": "…"``, OAuth 1.0 ``oauth_signature="…"``,
``x-amz-access-token``, ``X-Shopify-Access-Token``, user:password in URLs).

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
    """What is a secret, process-wide: the lasting credentials of every outbound client (the
    values the stack config's credentials name, Basic-auth passwords, the Slack tokens, the
    model key), registered once with ``register``. Every ``Redactor`` masks them, whoever built
    it, so a credential one client met is masked in another's error, a ticket, a Slack message
    or the log. Kept apart from how text is masked (``Redactor``, ``RedactingFilter``)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *values: str) -> None:
        fresh = {v.strip() for v in values if len(v.strip()) >= _MIN_SECRET_LEN}
        fresh = {f for v in fresh for f in (v, quote(v, safe=""), quote_plus(v))}
        if fresh - self._values:
            self._values |= fresh
            self._pattern = None

    def clear(self) -> None:
        """Forget every value (tests: each starts from a process with nothing registered)."""
        self._values.clear()
        self._pattern = None

    def mask(self, text: str) -> str:
        """``text`` with every registered value masked, in one pass of one pattern."""
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
    """Masks its own secret values, the process's registered ones (``SECRETS``) and common
    credential shapes in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] | None = None
        # Filters that combine this redactor with others: told of each secret it learns.
        self._listeners: weakref.WeakSet[RedactingFilter] = weakref.WeakSet()
        self.add(*secrets)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

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
        """Remember more secret values, e.g. a token fetched after start-up."""
        learnt: set[str] = set()
        for secret in secrets:
            secret = secret.strip()
            if len(secret) >= _MIN_SECRET_LEN:
                learnt.update({secret, quote(secret, safe=""), quote_plus(secret)})
        learnt -= self._secrets
        if learnt:
            self._learn(learnt)
            for listener in list(self._listeners):
                listener._combined._learn(learnt)

    def _learn(self, secrets: set[str]) -> None:
        self._secrets |= secrets
        self._ordered = None

    def redact(self, text: str) -> str:
        """``text`` with every known secret and credential shape masked. The values are plain
        substring replacements (C speed, no pattern to recompile when a token is learnt); the
        shapes are one regular expression each."""
        if self._ordered is None:
            # Longest first, so a secret that contains another is masked whole.
            self._ordered = sorted(self._secrets, key=len, reverse=True)
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        text = SECRETS.mask(text)
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
        # Every live redactor's secrets in one: a record is redacted in one pass, whatever the
        # number of live clients (one per triage and vendor). Redactors push what they learn;
        # the set is rebuilt from the live ones only after some went away (their secrets go).
        self._combined = Redactor()
        self._live = 0
        redactor._listeners.add(self)
        self._combined._learn(set(redactor.secrets))

    def add(self, redactor: Redactor) -> None:
        if redactor is not self.redactor and redactor not in self._more:
            self._more.add(redactor)
            redactor._listeners.add(self)
            self._combined._learn(set(redactor.secrets))
            self._live = len(self._more)

    def _current(self) -> Redactor:
        if len(self._more) < self._live:  # clients were closed and collected
            combined = Redactor()
            combined._learn(set(self.redactor.secrets))
            for more in list(self._more):
                combined._learn(set(more.secrets))
            self._combined, self._live = combined, len(self._more)
        return self._combined

    def redact(self, text: str) -> str:
        return self._current().redact(text)

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
