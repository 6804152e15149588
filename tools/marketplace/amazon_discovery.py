"""What ``oos discover`` reads from the Selling Partner API: the seller's marketplaces.

``GET /sellers/v1/marketplaceParticipations`` (``getMarketplaceParticipations``, Sellers API v1,
``../shared/specs/amazon-sp-api/sellers.json``): ``payload[]`` of ``marketplace`` (``id``,
``name``, ``countryCode``, ``defaultCurrencyCode``, ``defaultLanguageCode``, ``domainName``) and
``participation`` (``isParticipating``, ``hasSuspendedListings``). Usage plan 0.016 requests a
second, burst 15. In NA and EU it needs one of the roles Amazon lists for it, Product Listing
or Selling Partner Insights among them (developer-docs "Sellers API": roles); the Product
Listing role that ``getListingsItem`` needs covers it.

The seller id (merchant token) that the Listings Items API needs is in none of its answers:
Seller Central shows it (Settings → Account Info → Merchant Token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from tools.errors import AdapterError
from tools.marketplace.amazon import SYSTEM, AmazonSpApi, _Wire
from tools.ratelimit import TokenBucket

PARTICIPATIONS_PATH = "/sellers/v1/marketplaceParticipations"
RATE, BURST = 0.016, 15.0


class _Marketplace(_Wire):
    id: str
    name: str
    country_code: str = Field(alias="countryCode")
    currency: str = Field(alias="defaultCurrencyCode")
    domain: str = Field(alias="domainName")


class _Participation(_Wire):
    participating: bool = Field(alias="isParticipating")
    suspended_listings: bool = Field(alias="hasSuspendedListings")


class _Row(_Wire):
    marketplace: _Marketplace
    participation: _Participation


class _Answer(_Wire):
    payload: list[_Row]


@dataclass(frozen=True)
class Marketplace:
    id: str
    name: str
    country: str
    domain: str
    participating: bool
    suspended_listings: bool


async def discover_amazon(adapter: AmazonSpApi) -> list[Marketplace]:
    limiter = TokenBucket(RATE, BURST)
    body: Any = await adapter._api.get_json(PARTICIPATIONS_PATH, params={}, limiter=limiter)
    try:
        answer = _Answer.model_validate(body)
    except ValueError:
        raise AdapterError(
            SYSTEM,
            "bad_payload",
            "getMarketplaceParticipations: not a payload of marketplace participations",
            endpoint=f"GET {PARTICIPATIONS_PATH}",
        ) from None
    return [
        Marketplace(
            id=row.marketplace.id,
            name=row.marketplace.name,
            country=row.marketplace.country_code,
            domain=row.marketplace.domain,
            participating=row.participation.participating,
            suspended_listings=row.participation.suspended_listings,
        )
        for row in answer.payload
    ]
