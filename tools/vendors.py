"""What the stack config may say about each vendor: its ``options`` model and its credential
roles (each with the environment variable read when the config names none).

The stack config's ``vendor`` key picks the model here, so a typo in an option is named, a
value of the wrong type is coerced when that is safe (a numeric NetSuite account id) or
explained, and a vendor nobody registered is refused in one line — all when the config is
loaded, before any call. Adding a vendor adds one entry to ``SPECS``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.erp.netsuite_config import NetSuiteConfig
from tools.marketplace.amazon import DEFAULT_ENV as AMAZON_ENV
from tools.middleware.celigo import DEFAULT_TOKEN_ENV as CELIGO_ENV
from tools.middleware.celigo_config import CeligoOptions
from tools.storefront.shopify import API_VERSION as SHOPIFY_API_VERSION
from tools.storefront.shopify import DEFAULT_TOKEN_ENV as SHOPIFY_ENV
from tools.storefront.shopify import MAX_PAGE as SHOPIFY_MAX_PAGE
from tools.storefront.shopify import PageSizes as ShopifyPages
from tools.storefront.shopify import check_api_version

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShopifyPageSizes(_Options):
    variants: int = Field(5, ge=1, le=SHOPIFY_MAX_PAGE)
    levels: int = Field(25, ge=1, le=SHOPIFY_MAX_PAGE)
    webhooks: int = Field(25, ge=1, le=SHOPIFY_MAX_PAGE)

    @model_validator(mode="after")
    def _within_query_cost(self) -> ShopifyPageSizes:
        ShopifyPages(self.variants, self.levels, self.webhooks)  # refuses a query over 1000
        return self


class ShopifyOptions(_Options):
    shop: str = Field(description="the NAME in NAME.myshopify.com")
    page_sizes: ShopifyPageSizes | None = None
    api_version: str = Field(SHOPIFY_API_VERSION, description="Admin API release, e.g. 2026-10")

    _version = field_validator("api_version")(check_api_version)

    @field_validator("shop")
    @classmethod
    def _shop_name(cls, value: str) -> str:
        name = value.strip().lower().removesuffix(".myshopify.com")
        if not _SHOP.match(name):
            raise ValueError("the shop's name as in NAME.myshopify.com (letters, digits, '-')")
        return name


class AmazonOptions(_Options):
    seller_id: str = Field(min_length=1)
    marketplace_id: str = Field(min_length=1)
    region: Literal["na", "eu", "fe"] = "na"
    lwa_base_url: str | None = None
    channel: str | None = None
    feed_source: str = "storefront"
    buffer: int = Field(0, ge=0, strict=True)
    issue_locale: str | None = "en_US"
    fba_inventory: bool = True  # read FBA quantities (getInventorySummaries); off: unknown


_NETSUITE_FROM_ELSEWHERE = frozenset(
    {"base_url", "consumer_key_env", "consumer_secret_env", "token_id_env", "token_secret_env"}
)


class NetSuiteOptions(NetSuiteConfig):
    """The adapter's own settings less what the entry's ``base_url`` and ``credentials`` say."""

    @field_validator("account_id", mode="before")
    @classmethod
    def _digits_are_an_id(cls, value: Any) -> Any:
        # TOML reads `account_id = 1234567` as an integer; the id is that text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class VendorSpec:
    """One vendor's config shape: ``credentials`` maps each role to its default variable."""

    options: type[BaseModel]
    credentials: Mapping[str, str]
    hidden_options: frozenset[str] = frozenset()

    def option_names(self) -> list[str]:
        return [k for k in self.options.model_fields if k not in self.hidden_options]


SPECS: dict[str, VendorSpec] = {
    "shopify": VendorSpec(ShopifyOptions, {"access_token": SHOPIFY_ENV}),
    "amazon": VendorSpec(AmazonOptions, AMAZON_ENV),
    "celigo": VendorSpec(CeligoOptions, {"api_token": CELIGO_ENV}),
    "netsuite": VendorSpec(
        NetSuiteOptions,
        {
            "consumer_key": "NETSUITE_CONSUMER_KEY",
            "consumer_secret": "NETSUITE_CONSUMER_SECRET",
            "token_id": "NETSUITE_TOKEN_ID",
            "token_secret": "NETSUITE_TOKEN_SECRET",
        },
        hidden_options=_NETSUITE_FROM_ELSEWHERE,
    ),
}


class VendorConfigError(ValueError):
    """An entry's vendor, options or credential roles cannot be used; the message is one line
    that starts with the key at fault (relative to the entry)."""


def suggest(word: str, choices: list[str]) -> str:
    """The hint after an unknown name: the closest known one, if any, then all of them."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    known = ", ".join(choices) or "none"
    return (f"did you mean '{close[0]}'? " if close else "") + f"known: {known}"


def first_error(exc: ValidationError) -> Mapping[str, Any]:
    """The error to report: an unknown key first, since it usually explains a missing one."""
    errors = exc.errors()
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def _explain(error: Mapping[str, Any], spec: VendorSpec) -> str:
    loc = [str(p) for p in error["loc"]]
    where = ".".join(["options", *loc])
    if error["type"] == "extra_forbidden":
        names = spec.option_names() if len(loc) == 1 else []
        parent = ".".join(["options", *loc[:-1]])
        return f"{parent}: unknown option '{loc[-1]}' ({suggest(loc[-1], names)})"
    if error["type"] == "missing":
        return f"{where}: required, and missing"
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
    return f"{where}: {error['msg']}{shown}"


def validate_entry(
    vendor: str,
    layer: str,
    vendors: list[str],
    options: Mapping[str, Any],
    credentials: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """``options`` as the vendor's model reads them (coerced, JSON-like) and the credential roles
    with their default variables filled in. ``vendors`` are the ones ``layer`` has adapters for."""
    spec = SPECS.get(vendor)
    if spec is None or vendor not in vendors:
        raise VendorConfigError(
            f"vendor: '{vendor}' is not a {layer} vendor ({suggest(vendor, sorted(vendors))})"
        )
    hidden = sorted(spec.hidden_options & set(options))
    if hidden:
        raise VendorConfigError(
            f"options.{hidden[0]}: set by the entry's base_url / credentials, not in options"
        )
    try:
        parsed = spec.options.model_validate(dict(options))
    except ValidationError as exc:
        raise VendorConfigError(_explain(first_error(exc), spec)) from None
    unknown = sorted(set(credentials) - set(spec.credentials))
    if unknown:
        roles = list(spec.credentials)
        raise VendorConfigError(
            f"credentials.{unknown[0]}: not a credential role of {vendor} ({suggest(unknown[0], roles)})"
        )
    coerced = parsed.model_dump(mode="json", include=set(options))
    return coerced, {**spec.credentials, **credentials}
