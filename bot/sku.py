"""What a SKU may look like before any system is asked about it."""

from __future__ import annotations

import re

MAX_SKU_LENGTH = 64
_ALLOWED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


class InvalidSku(ValueError):
    """The SKU cannot be looked up; the message says why in one line."""


def validate_sku(raw: str) -> str:
    """Return the SKU stripped of surrounding spaces, or raise ``InvalidSku``."""
    sku = raw.strip()
    if not sku:
        raise InvalidSku("the SKU is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in sku):
        raise InvalidSku("the SKU contains control characters")
    if len(sku) > MAX_SKU_LENGTH:
        raise InvalidSku(
            f"the SKU is {len(sku)} characters long; at most {MAX_SKU_LENGTH} are allowed"
        )
    if not _ALLOWED.match(sku):
        raise InvalidSku(
            "the SKU may contain only letters, digits and . _ / - (and must start with a letter or digit)"
        )
    return sku
