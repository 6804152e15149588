"""NetSuite Token-Based Authentication: OAuth 1.0a request signing with HMAC-SHA256.

NetSuite's TBA is RFC 5849 with ``oauth_signature_method="HMAC-SHA256"`` and a ``realm`` equal
to the account id (``1234567`` or ``1234567_SB1``, as NetSuite spells it, not the host form).
Each request gets a fresh nonce and timestamp (NetSuite refuses a reused nonce), so the signer
runs once per attempt as ``VendorClient``'s auth hook. The steps, RFC 5849 section 3.4:

1. parameters = the query parameters + the ``oauth_*`` parameters (not ``realm``, not
   ``oauth_signature``; a JSON body contributes nothing), each name and value
   percent-encoded (section 3.6: everything but ``A-Z a-z 0-9 - . _ ~``), sorted by name then
   value, joined as ``name=value`` with ``&``;
2. base string = ``METHOD & enc(base URI) & enc(parameters)``, the base URI being the
   lower-cased scheme and host, the port only when it is not the default, and the path;
3. key = ``enc(consumer secret) & enc(token secret)``; signature = base64(HMAC-SHA256(key, base)).

Credentials are read from environment variables whose names the caller gives, at each request,
so a rotated token is picked up without a restart. A missing variable is an ``auth`` error that
names the variable, never a value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

import httpx

from tools.errors import AdapterError

SIGNATURE_METHOD = "HMAC-SHA256"

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class TbaEnv:
    """The names of the environment variables that hold the four TBA credentials."""

    consumer_key: str = "NETSUITE_CONSUMER_KEY"
    consumer_secret: str = "NETSUITE_CONSUMER_SECRET"
    token_id: str = "NETSUITE_TOKEN_ID"
    token_secret: str = "NETSUITE_TOKEN_SECRET"

    def names(self) -> tuple[str, str, str, str]:
        return (self.consumer_key, self.consumer_secret, self.token_id, self.token_secret)


@dataclass(frozen=True, repr=False)
class TbaCredentials:
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str

    def __repr__(self) -> str:
        return "TbaCredentials(***)"

    @classmethod
    def from_env(
        cls, env: TbaEnv, system: str, environ: Mapping[str, str] | None = None
    ) -> TbaCredentials:
        source = os.environ if environ is None else environ
        missing = [name for name in env.names() if not source.get(name)]
        if missing:
            raise AdapterError(
                system,
                "auth",
                f"environment variable(s) {', '.join(missing)} not set (NetSuite token-based auth)",
            )
        return cls(*(source[name] for name in env.names()))


def percent_encode(value: str) -> str:
    """RFC 5849 section 3.6: UTF-8, then every octet but the unreserved set as ``%XX``."""
    return quote(value, safe="-._~")


def base_string_uri(url: httpx.URL) -> str:
    scheme = url.scheme.lower()
    host = url.host.lower()
    port = f":{url.port}" if url.port is not None and url.port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{port}{url.path or '/'}"


def normalized_parameters(params: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_base_string(method: str, url: httpx.URL, oauth_params: Mapping[str, str]) -> str:
    """The string RFC 5849 signs: method, base URI and every query and ``oauth_*`` parameter."""
    params = [*url.params.multi_items()]
    params += [(k, v) for k, v in oauth_params.items() if k not in ("realm", "oauth_signature")]
    return "&".join(
        [
            method.upper(),
            percent_encode(base_string_uri(url)),
            percent_encode(normalized_parameters(params)),
        ]
    )


def sign(base_string: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(realm: str, oauth_params: Mapping[str, str]) -> str:
    fields = [f'realm="{percent_encode(realm)}"']
    fields += [f'{k}="{percent_encode(v)}"' for k, v in oauth_params.items()]
    return "OAuth " + ", ".join(fields)


def parse_authorization(header: str) -> dict[str, str]:
    """The parameters of an ``OAuth k="v", …`` header, decoded (for the emulator and tests)."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "oauth":
        return {}
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep and len(value) >= 2 and value[0] == value[-1] == '"':
            params[name] = unquote(value[1:-1])
    return params


def _nonce() -> str:
    return secrets.token_hex(16)


def _timestamp() -> str:
    return str(int(time.time()))


class TbaSigner:
    """``VendorClient`` auth hook: signs each attempt with a fresh nonce and timestamp.

    ``nonce`` and ``timestamp`` are injectable so tests can check a signature they computed.
    """

    def __init__(
        self,
        realm: str,
        env: TbaEnv,
        *,
        system: str = "netsuite",
        environ: Mapping[str, str] | None = None,
        nonce: Callable[[], str] = _nonce,
        timestamp: Callable[[], str] = _timestamp,
    ) -> None:
        self.realm = realm
        self.env = env
        self._system = system
        self._environ = environ
        self._nonce = nonce
        self._timestamp = timestamp

    def credentials(self) -> TbaCredentials:
        return TbaCredentials.from_env(self.env, self._system, self._environ)

    def header(self, method: str, url: httpx.URL) -> str:
        creds = self.credentials()
        oauth = {
            "oauth_consumer_key": creds.consumer_key,
            "oauth_token": creds.token_id,
            "oauth_signature_method": SIGNATURE_METHOD,
            "oauth_timestamp": self._timestamp(),
            "oauth_nonce": self._nonce(),
            "oauth_version": "1.0",
        }
        base = signature_base_string(method, url, oauth)
        oauth["oauth_signature"] = sign(base, creds.consumer_secret, creds.token_secret)
        return authorization_header(self.realm, oauth)

    async def __call__(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = self.header(request.method, request.url)
