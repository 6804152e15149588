"""What the model may see: personal data masked first, then secrets."""

from __future__ import annotations

import pytest

from bot.privacy import Masker, mask_personal
from tools.redact import Redactor


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("refund to jane.doe@example.com today", "refund to [email] today"),
        ("Called Jane Smith at +1 415-555-0134 re order", "Called [person] at [phone] re order"),
        ("call (020) 7946 0958 after 5", "call [phone] after 5"),
        ("adjusted by Maria Lopez-Garcia", "adjusted by [person]"),
        ("Customer: Ana Ruiz", "Customer: [person]"),
        ("spoke with Tom O'Neil", "spoke with [person]"),
        ("Mr. Chen approved the hold", "Mr. [person] approved the hold"),
        # not people, not phones: left alone so the evidence still reads
        ("Posted sales shipment, customer C-30422 (wholesale EDI)", None),
        ("from Shopify inventory level 1 → 0", None),
        ("suspended since 2026-11-19 01:00:00", None),
        ("JSON_LISTINGS_FEED submitted, feedId 181944020000", None),
        ("Item fulfillment for web order #1108120", None),
    ],
)
def test_personal_data_in_free_text(text: str, masked: str | None) -> None:
    assert mask_personal(text) == (masked if masked is not None else text)


def test_person_fields_are_blanked_and_secrets_masked_after() -> None:
    masker = Masker(Redactor(["canary-secret-value-42"]))
    value = {
        "actor": "Jane Smith",
        "adjustments": [{"actor": "Merchandising (staff account)", "note": "pulled"}],
        "contact": "jane@example.com",
        "message": "token=abcd1234 rejected; key canary-secret-value-42 printed by the vendor",
        "quantity": 4,
    }
    out = masker.mask_value(value)
    assert out["actor"] == "[person]" and out["contact"] == "[email]"
    assert out["adjustments"][0]["actor"] == "Merchandising (staff account)"  # a team, kept
    assert "abcd1234" not in out["message"] and "canary-secret-value-42" not in out["message"]
    assert out["quantity"] == 4
