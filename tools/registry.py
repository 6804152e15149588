"""Vendor name → adapter factory, one line each. Adding a vendor adds one line here.

Every factory takes the stack config entry's parts (``base_url``, ``credentials``: role → NAME
of an environment variable, ``options``) plus an optional transport (emulators, tests) and
retry policy, and returns an adapter implementing its layer's protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from tools.clock import Clock
from tools.erp.netsuite import NetSuiteErp
from tools.marketplace.amazon import AmazonSpApi
from tools.middleware.celigo import CeligoMiddleware
from tools.protocols import ErpAdapter, MarketplaceAdapter, MiddlewareAdapter, StorefrontAdapter
from tools.retry import RetryPolicy
from tools.storefront.shopify import ShopifyStorefront

Factory = Callable[..., Any]


def _netsuite(
    *,
    base_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> NetSuiteErp:
    """NetSuite keeps its settings flat: credentials become ``<role>_env`` keys."""
    settings: dict[str, Any] = dict(options or {})
    if base_url:
        settings["base_url"] = base_url
    for role, env_name in (credentials or {}).items():
        settings[f"{role}_env"] = env_name
    return NetSuiteErp.from_settings(settings, transport=transport, retry=retry, clock=clock)


STOREFRONTS: dict[str, Callable[..., StorefrontAdapter]] = {
    "shopify": ShopifyStorefront.from_settings,
}
MARKETPLACES: dict[str, Callable[..., MarketplaceAdapter]] = {
    "amazon": AmazonSpApi.from_settings,
}
MIDDLEWARE: dict[str, Callable[..., MiddlewareAdapter]] = {
    "celigo": CeligoMiddleware.from_settings,
}
ERPS: dict[str, Callable[..., ErpAdapter]] = {
    "netsuite": _netsuite,
}

LAYERS: dict[str, dict[str, Callable[..., Any]]] = {
    "storefront": STOREFRONTS,
    "marketplace": MARKETPLACES,
    "middleware": MIDDLEWARE,
    "erp": ERPS,
}


class UnknownVendor(LookupError):
    pass


def factory(layer: str, vendor: str) -> Callable[..., Any]:
    vendors = LAYERS[layer]
    if vendor not in vendors:
        known = ", ".join(sorted(vendors))
        raise UnknownVendor(f"no {layer} adapter for vendor '{vendor}' (available: {known})")
    return vendors[vendor]
