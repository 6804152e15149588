"""Log lines as ``oos`` writes them: the JSON formatter sees each record after the redaction
filter ran (secrets stay masked), and Bolt's misleading token notice is left out."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import LogFormat, configured, triage_context
from tools.redact import MASK, Redactor, install

SECRET = "sk_live_0123456789abcdefXYZ"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_stay_masked_in_either_format(
    capsys: pytest.CaptureFixture[str], fmt: LogFormat
) -> None:
    vendor = logging.getLogger("tools.test_logs_vendor")
    install(vendor, Redactor([SECRET]))
    with configured(logging.INFO, fmt), triage_context("SKU-1", "t-1"):
        vendor.warning("refused token %s", SECRET)
        try:
            raise RuntimeError(f"echoed {SECRET}")
        except RuntimeError:
            vendor.exception("failed")
    err = capsys.readouterr().err
    assert SECRET not in err and MASK in err
    if fmt == "json":
        entries = [json.loads(line) for line in err.splitlines()]
        assert entries[0]["msg"] == f"refused token {MASK}" and entries[0]["triage_id"] == "t-1"
        assert MASK in entries[1]["exc"]


def test_bolts_token_notice_is_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    bolt = logging.getLogger("slack_bolt.AsyncApp")
    with configured(logging.INFO, "text"):
        bolt.warning("As you gave `client` as well, `token` will be unused.")
        bolt.warning("something else")
    err = capsys.readouterr().err
    assert "will be unused" not in err and "something else" in err
