"""What a SKU may look like before any system is asked about it — the one rule the scenario
loader, the CLI, Slack and the store share.

Real catalogs use letters of any script, digits, spaces, ``#`` and ``+`` ("Café Crème #2",
"T-SHIRT+LOGO", "ТОВАР-7"). A SKU is normalised to Unicode NFC (so "é" typed as e + combining
accent is the same SKU as the precomposed one) and stripped of surrounding spaces; control and
invisible characters (newlines, tabs, zero-width and bidirectional marks) and overlong input
are refused.
"""

from __future__ import annotations

import unicodedata

MAX_SKU_LENGTH = 64
PUNCTUATION = "._/-#+ "  # besides letters, combining marks and digits of any script
# Unicode categories refused outright: controls, format (zero-width, bidi), surrogates,
# private use, unassigned, and line/paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class InvalidSku(ValueError):
    """The SKU cannot be looked up; the message says why in one line."""


def normalize_sku(raw: str) -> str:
    """The SKU's canonical form (NFC, no surrounding spaces), without validating it."""
    return unicodedata.normalize("NFC", raw).strip(" ")


_QUOTE_PAIRS = {"`": "`", '"': '"', "'": "'", "“": "”", "‘": "’"}


def unquote(text: str) -> str | None:
    """The text inside one matching pair of quotes or backticks (how a SKU with spaces is
    written where words separate SKUs, e.g. in Slack), or None when it is not quoted."""
    text = text.strip()
    if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        return text[1:-1]
    return None


def _allowed(ch: str) -> bool:
    return ch in PUNCTUATION or unicodedata.category(ch)[0] in "LMN"


def validate_sku(raw: str) -> str:
    """Return the SKU in NFC without surrounding spaces, or raise ``InvalidSku``."""
    if any(unicodedata.category(ch) in _INVISIBLE for ch in raw):
        raise InvalidSku("the SKU contains control characters or invisible formatting characters")
    sku = normalize_sku(raw)
    if not sku:
        raise InvalidSku("the SKU is empty")
    if len(sku) > MAX_SKU_LENGTH:
        raise InvalidSku(
            f"the SKU is {len(sku)} characters long; at most {MAX_SKU_LENGTH} are allowed"
        )
    if not all(_allowed(ch) for ch in sku) or unicodedata.category(sku[0])[0] not in "LN":
        raise InvalidSku(
            "the SKU may contain letters and digits of any script, spaces and . _ / - # + "
            "(and must start with a letter or digit)"
        )
    return sku
