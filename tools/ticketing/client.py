"""What the ticket adapters share on the wire: one ``VendorClient`` per system, paced and timed
alike, credentials read from the environment at every request (a rotated secret is picked up
without a restart), and the check of ``[tickets.options]``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from tools.errors import AdapterError
from tools.http import AuthHook, VendorClient
from tools.ratelimit import RateLimiter, TokenBucket
from tools.retry import RetryPolicy, Sleep

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# Neither system publishes a fixed rate (Jira Cloud's limits are cost-based and per tenant,
# ServiceNow's are rules each instance configures): pace gently and let 429s with Retry-After
# (honoured on reads) do the rest.
RATE = 10.0
BURST = 20.0


def ticket_client(
    system: str,
    base_url: str,
    *,
    auth: AuthHook,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy | None,
    limiter: RateLimiter | None,
    sleep: Sleep | None,
) -> VendorClient:
    """The HTTP client of one ticket system: JSON answers, ``TIMEOUT``, ``RATE``/``BURST``
    unless a limiter is given, and ``sleep`` (when given) for both the pacing and the retries."""
    extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    return VendorClient(
        system,
        base_url,
        timeout=TIMEOUT,
        auth=auth,
        limiter=limiter or TokenBucket(RATE, BURST, **extra),
        retry=retry,
        transport=transport,
        headers={"Accept": "application/json"},
        **extra,
    )


def env_secret(system: str, name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the environment variable ``name`` (in ``environ`` when given, else the
    process environment); an ``auth`` failure when it is unset."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise AdapterError(system, "auth", f"environment variable {name} is not set")
    return value


def set_basic_auth(
    system: str,
    request: httpx.Request,
    user_env: str,
    password_env: str,
    environ: Mapping[str, str] | None = None,
) -> None:
    """HTTP Basic from the two environment variables (the first unset one is named), read from
    ``environ`` when given (the sandbox's private credentials), else the process environment."""
    user = env_secret(system, user_env, environ)
    password = env_secret(system, password_env, environ)
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.headers["Authorization"] = f"Basic {pair}"


def check_options(options: Mapping[str, Any], known: Collection[str]) -> None:
    """Refuse an option the adapter does not know (a typo would otherwise be ignored)."""
    unknown = set(options) - set(known)
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
