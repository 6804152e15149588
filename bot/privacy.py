"""Personal data masked first, then secrets: for the model, and for every report we publish.

Vendor data carries people — a customer's email in an ERP memo, a phone number in a middleware
error, "adjusted by Jane Smith" in an inventory history — and sometimes credentials echoed by a
failing API. None of it helps a diagnosis, so every text bound for the model (tool results, the
report digest, a Slack question) goes through ``Masker.mask``, and so does every text the model
writes before anyone reads it. The engine masks its report the same way before it leaves the
engine (CLI, Slack, store, tickets), since it quotes vendor free text as evidence:

1. personal data: email addresses, phone numbers, values of fields that hold a person
   (``actor``, ``customer``, ``contact``…), and names in free text where a cue says a person
   follows ("by Jane Smith", "customer Maria Lopez", "Mr. Chen");
2. secrets: ``tools.redact.Redactor`` — every secret-named environment variable's value and
   the shapes credentials take (bearer tokens, ``api_key=…``, Shopify and LWA tokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tools.redact import Redactor

EMAIL = "[email]"
PHONE = "[phone]"
PERSON = "[person]"

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
# Phone numbers: international (+44 20 7946 0958) or grouped national (555-867-5309,
# (555) 867 5309). Ids and timestamps are left alone: they lack the separators or the length.
_PHONE = re.compile(
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?"
    r"(?:\(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]\d{3,4}|\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4})(?![\w-])"
    r"|(?<![\w-])\+\d{8,15}(?![\w-])"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_WORD = r"[A-Z](?:[a-z]+|['’][A-Z][a-z]+)(?:-[A-Z][a-z]+)?"
_NAME = rf"{_WORD}(?:\s+{_WORD}){{0,2}}"
# A whole value that is a personal name or a login: "Jane Smith", "jane.doe", "j.doe".
_LOOKS_LIKE_PERSON = re.compile(rf"^(?:{_WORD}(?:\s+{_WORD}){{1,2}}|[a-z]+[._][a-z]+)$")
_CUED_NAME = re.compile(
    r"(?P<cue>\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+"
    r"|\b(?i:customer|client|buyer|shopper|contact|caller|recipient|attn|attention|signed|"
    r"approved by|adjusted by|changed by|edited by|requested by|reset by|rotated by|"
    r"created by|updated by|entered by|called|emailed|spoke (?:to|with)|per|from)\s*:?\s+)"
    rf"(?P<name>{_NAME})\b"
)
# Capitalised words after a cue that are not names: systems, roles and vendors.
_NOT_NAMES = {
    "Shopify", "Amazon", "Walmart", "Ebay", "Celigo", "Boomi", "Netsuite", "NetSuite", "Sap",
    "Patchworks", "Magento", "Business", "Central", "BigCommerce", "Admin", "Integration",
    "System", "Support", "Warehouse", "Store", "The", "Ops", "Operations", "Finance", "It",
    "Erp", "Wms", "Api", "Connector", "Flow", "Scheduler", "Bot", "Automation", "Monday",
    "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Layer", "Sku",
}  # fmt: skip
# Keys whose values are a person, wherever they appear in a tool result.
_PERSON_KEYS = re.compile(
    r"^(?:actor|user|customer(?:_name)?|contact(?:_name)?|buyer(?:_name)?|first_?name|"
    r"last_?name|full_?name|person|recipient|ship_?to|bill_?to|email|phone|address|"
    r"requested_by|approved_by|created_by|updated_by)$",
    re.IGNORECASE,
)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if _ISO_DATE.match(text) or sum(ch.isdigit() for ch in text) < 8:
        return text
    return PHONE


def _person(match: re.Match[str]) -> str:
    words = match.group("name").split()
    if words[0] in _NOT_NAMES:
        return match.group(0)
    return f"{match.group('cue')}{PERSON}"


def mask_personal(text: str) -> str:
    """Emails, phone numbers and cued names in free text, masked."""
    text = _EMAIL.sub(EMAIL, text)
    text = _PHONE.sub(_phone, text)
    return _CUED_NAME.sub(_person, text)


class Masker:
    """Masks personal data, then secrets, in text and in JSON-like values."""

    def __init__(self, redactor: Redactor | None = None, secrets: Iterable[str] = ()) -> None:
        self.redactor = redactor if redactor is not None else Redactor.from_env()
        self.redactor.add(*secrets)

    def mask(self, text: str) -> str:
        return self.redactor.redact(mask_personal(text))

    def mask_value(self, value: Any, key: str = "") -> Any:
        """A JSON-like value with every string masked and person-holding fields blanked."""
        if isinstance(value, dict):
            return {str(k): self.mask_value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v, key) for v in value]
        if isinstance(value, str):
            if key and _PERSON_KEYS.match(key):
                if "@" in value:
                    return EMAIL
                if _LOOKS_LIKE_PERSON.match(value.strip()):
                    return PERSON
            return self.mask(value)
        return value
