"""Redactor: known secret values and common credential shapes; the logging filter."""

from __future__ import annotations

import gc
import logging

import pytest

from tools.redact import MASK, RedactingFilter, Redactor, install


def test_known_secret_values_are_masked_also_url_encoded() -> None:
    redactor = Redactor(["p@ss/word+1"])
    text = "login p@ss/word+1 url ?pw=p%40ss%2Fword%2B1 form pw=p%40ss%2Fword%2B1"
    assert redactor.redact(text) == f"login {MASK} url ?pw={MASK} form pw={MASK}"


def test_secret_added_later_is_masked() -> None:
    redactor = Redactor()
    assert redactor.redact("tok-12345") == "tok-12345"
    redactor.add("tok-12345")
    assert redactor.redact("tok-12345") == MASK


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["abc", ""]).redact("abc def") == "abc def"


def test_from_env_picks_secret_looking_names_or_the_given_ones() -> None:
    env = {
        "SHOPIFY_ACCESS_TOKEN": "shop-tok-1",
        "NETSUITE_CLIENT_SECRET": "ns-secret-1",
        "SPAPI_LWA_REFRESH_TOKEN": "lwa-refresh",
        "CELIGO_API_KEY": "celigo-key",
        "HOME": "/home/bot",
        "SKU_PREFIX": "ACME",
    }
    text = " ".join(env.values())
    assert Redactor.from_env(environ=env).redact(text) == " ".join([MASK] * 4 + ["/home/bot ACME"])
    only = Redactor.from_env(names=["SKU_PREFIX", "MISSING"], environ=env)
    assert only.redact("ACME-1") == f"{MASK}-1"


@pytest.mark.parametrize(
    ("text", "leaked", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi", "Authorization: "),
        ("{'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz", "{'authorization': '"),
        ("sent with bearer abcdefgh12345678", "abcdefgh12345678", "bearer "),
        ("GET /token?access_token=Atza|IwEBIabc&sku=A-1", "IwEBIabc", "&sku=A-1"),
        ('{"client_secret": "xyz-123-abc", "sku": "A-1"}', "xyz-123-abc", '"sku": "A-1"'),
        (
            'OAuth realm="123_SB1", oauth_token="tok123", oauth_signature="c2ln%3D"',
            "c2ln%3D",
            'realm="123_SB1"',
        ),
        ('OAuth oauth_token="tok123456"', "tok123456", "OAuth "),
        ("x-amz-access-token: Atza|IwEBIxyz", "IwEBIxyz", "x-amz-access-token: "),
        ("X-Shopify-Access-Token: shpat_0123456789abcdef0123", "shpat_0", "X-Shopify"),
        ('{"password": "hunter \\"2\\" two", "user": "bot"}', "hunter", '"user": "bot"'),
        ("refresh_token=Atzr|IwEBIrefresh", "IwEBIrefresh", "refresh_token="),
        ("https://bot:pa55word@erp.example.test/api", "pa55word", "erp.example.test/api"),
        ("invalid token: abcd1234 for shop", "abcd1234", "for shop"),
        ("found shpat_0123456789abcdef0123 in a dump", "shpat_", "in a dump"),
    ],
)
def test_credential_shapes_are_masked(text: str, leaked: str, kept: str) -> None:
    redacted = Redactor().redact(text)
    assert leaked not in redacted
    assert kept in redacted
    assert MASK in redacted


@pytest.mark.parametrize(
    "text",
    [
        "SKU A-1 has 0 on hand at WH-EAST",
        '{"token_type": "bearer", "expires_in": 3600, "next_token": "abc"}',
        "nextToken=xyz&MarketplaceIds=ATVPDKIKX0DER",
        "the password is wrong",
        "https://example.test/admin/api/2025-01/graphql.json",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_filter_redacts_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redact.filter")
    install(logger, Redactor(["s3cr3t-value"]))
    caplog.set_level(logging.DEBUG, logger=logger.name)

    try:
        raise RuntimeError("failed with s3cr3t-value")
    except RuntimeError:
        logger.exception("calling %s with %s", "/x", "Authorization: Bearer s3cr3t-value")

    (record,) = caplog.records
    assert record.getMessage() == "calling /x with Authorization: ***"
    assert record.exc_text is not None
    assert "RuntimeError: failed with ***" in record.exc_text
    assert "s3cr3t-value" not in caplog.text


def test_install_twice_keeps_one_filter_and_both_redactors() -> None:
    logger = logging.getLogger("tests.redact.install")
    first, second = Redactor(["first-secret"]), Redactor(["second-secret"])
    install(logger, first)
    install(logger, second)
    install(logger, second)

    filters = [f for f in logger.filters if isinstance(f, RedactingFilter)]
    assert len(filters) == 1
    assert filters[0].redact("first-secret second-secret") == f"{MASK} {MASK}"
    second.add("added-later")
    assert filters[0].redact("added-later") == MASK


def test_a_filter_over_many_live_redactors_redacts_each_record_in_one_pass() -> None:
    logger = logging.getLogger("test.redact.many")
    live = [Redactor([f"triage-{i:03d}-secret-value"]) for i in range(300)]
    for redactor in live:
        install(logger, redactor)
    (flt,) = [f for f in logger.filters if isinstance(f, RedactingFilter)]
    line = "sent triage-007-secret-value and triage-299-secret-value to the vendor"
    assert flt.redact(line) == f"sent {MASK} and {MASK} to the vendor"
    combined = flt._current()
    for _ in range(5):  # nothing changed: the same combined redactor, not one per live triage
        flt.redact(line)
        assert flt._current() is combined
    live[42].add("learnt-after-install-token")  # a refreshed token: masked from now on
    assert flt.redact("got learnt-after-install-token") == f"got {MASK}"
    del live[:200]  # clients closed and collected: their secrets leave the combined set
    gc.collect()
    assert flt._current() is not combined
    assert flt.redact("triage-299-secret-value") == MASK
    assert flt.redact("triage-007-secret-value") == "triage-007-secret-value"
    logger.filters.clear()


def test_a_secret_containing_another_is_masked_whole() -> None:
    redactor = Redactor(["abcd1234", "xxabcd1234yy"])
    assert redactor.redact("k=xxabcd1234yy;j=abcd1234") == f"k={MASK};j={MASK}"
