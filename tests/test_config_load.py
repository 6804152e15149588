"""The stack config is validated when it is loaded: each vendor's options by its own model, a
typo named, a type coerced or explained, missing credential variables named — one line on
stderr and exit 2 for every command, before any call. Plus the CLI's other one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "stack.toml"
VENDOR_ENV = (
    "SHOPIFY_ADMIN_TOKEN",
    "SP_API_CLIENT_ID",
    "SP_API_CLIENT_SECRET",
    "SP_API_REFRESH_TOKEN",
    "CELIGO_API_TOKEN",
    "NETSUITE_CONSUMER_KEY",
    "NETSUITE_CONSUMER_SECRET",
    "NETSUITE_TOKEN_ID",
    "NETSUITE_TOKEN_SECRET",
)
TICKETS = """
[tickets]
system = "jira"
base_url = "https://acme.atlassian.net"
credentials = { email = "OOS_TEST_JIRA_EMAIL", api_token = "OOS_TEST_JIRA_TOKEN" }
[tickets.routes.ecommerce_admin]
project = "OPS"
[tickets.routes.channel_manager]
project = "OPS"
[tickets.routes.integration_admin]
project = "OPS"
[tickets.routes.erp_admin]
project = "ERP"
[tickets.routes.ops_manager]
project = "OPS"
"""
MINIMAL = """
[storefront]
vendor = "shopify"
options = { shop = "acme" }
[middleware]
vendor = "celigo"
[middleware.options.flows.f1]
hop = "storefront_to_erp"
[erp]
vendor = "netsuite"
options = { account_id = "1234567" }
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*VENDOR_ENV, "OOS_TEST_JIRA_EMAIL", "OOS_TEST_JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "stack.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('shop = "acme"', 'shoop = "acme"'),
            "storefront.options: unknown option 'shoop' (did you mean 'shop'?",
        ),
        (
            ('vendor = "shopify"', 'vendor = "shopfiy"'),
            "storefront.vendor: 'shopfiy' is not a storefront vendor (did you mean 'shopify'?",
        ),
        (
            ('vendor = "celigo"', 'vendor = "boomi"'),
            "middleware.vendor: 'boomi' is not a middleware vendor (known: celigo)",
        ),
        (('hop = "storefront_to_erp"', 'hop = "sideways"'), "middleware.options.flows.f1.hop: "),
        (
            ('account_id = "1234567"', 'account_id = "12 34"'),
            "erp.options.account_id: Value error, account id is letters, digits",
        ),
        (
            (
                'options = { shop = "acme" }',
                'options = { shop = "acme" }\ncredentials = { token = "SHOPIFY_ADMIN_TOKEN" }',
            ),
            "storefront.credentials.token: not a credential role of shopify (known: access_token)",
        ),
        (
            ("[erp]", "[thresholds]\nlatncy_minutes = 5\n[erp]"),
            "thresholds.latncy_minutes: unknown key (did you mean 'latency_minutes'?",
        ),
        (
            ('[storefront]\nvendor = "shopify"\n', "[storefront]\n"),
            "storefront.vendor: required, and missing",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_credentials: None,
    change: tuple[str, str],
    message: str,
) -> None:
    path = write(tmp_path, MINIMAL.replace(*change))
    code, out, err = run(capsys, "triage", "SKU-1", "--config", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"oos: {path}: {message}"), err
    assert err.count("\n") == 1 and "https://errors.pydantic.dev" not in err


def test_an_amazon_buffer_given_as_text_is_explained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + '[[marketplaces]]\nvendor = "amazon"\nchannel = "amazon"\n'
        + 'options = { seller_id = "S", marketplace_id = "M", buffer = "3" }\n',
    )
    code, _, err = run(capsys, "check-config", path)
    assert code == 2
    assert "marketplaces.amazon.options.buffer: Input should be a valid integer (got '3')" in err


def test_a_numeric_netsuite_account_id_is_read_as_its_text(tmp_path: Path) -> None:
    config = load_config(Path(write(tmp_path, MINIMAL.replace('"1234567"', "1234567"))))
    assert config.erp.options["account_id"] == "1234567"
    # The credential variables the vendor reads when the config names none are filled in.
    assert config.storefront.credentials == {"access_token": "SHOPIFY_ADMIN_TOKEN"}
    assert config.erp.credentials["token_secret"] == "NETSUITE_TOKEN_SECRET"


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["triage", "SKU-1042"], ["SHOPIFY_ADMIN_TOKEN", "SP_API_CLIENT_ID", "CELIGO_API_TOKEN"]),
        (["serve"], ["SHOPIFY_ADMIN_TOKEN", "NETSUITE_TOKEN_ID", "OOS_TEST_JIRA_TOKEN"]),
        (["drift"], ["SHOPIFY_ADMIN_TOKEN", "NETSUITE_TOKEN_ID"]),
        (["health"], ["CELIGO_API_TOKEN"]),
        (["map"], ["CELIGO_API_TOKEN", "SP_API_REFRESH_TOKEN"]),
        (["tickets", "retry"], ["OOS_TEST_JIRA_EMAIL", "OOS_TEST_JIRA_TOKEN"]),
    ],
)
def test_missing_credential_variables_stop_every_command_before_any_call(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_credentials: None,
    argv: list[str],
    names: list[str],
) -> None:
    path = write(tmp_path, EXAMPLE.read_text(encoding="utf-8") + TICKETS)
    code, out, err = run(capsys, *argv, "--config", path)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "credential variables not set" in err
    for name in names:
        assert name in err
    if argv[0] == "drift":
        assert "CELIGO_API_TOKEN" not in err  # only what the command reads
    if argv[0] == "tickets":
        assert "SHOPIFY_ADMIN_TOKEN" not in err


def test_check_config_lists_missing_variables_per_system(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = write(tmp_path, EXAMPLE.read_text(encoding="utf-8") + TICKETS)
    code, out, _ = run(capsys, "check-config", path)
    assert code == 1
    rows = {line.split()[1]: line for line in out.splitlines()}
    assert list(rows) == [
        "storefront",
        "marketplace:amazon",
        "middleware",
        "erp",
        "tickets:auth",
        "slack:auth",
        "model",
    ]
    failing = [rows[k] for k in list(rows)[:-2]]
    assert all(line.startswith("FAIL") and "is not set" in line for line in failing)
    assert "OOS_TEST_JIRA_EMAIL, OOS_TEST_JIRA_TOKEN" in rows["tickets:auth"]
    assert rows["slack:auth"].startswith("WARN")  # the CLI works without Slack
    assert rows["model"].startswith("WARN")  # the agent is optional


def test_a_dotenv_file_in_the_working_directory_supplies_variables(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_credentials: None,
) -> None:
    path = write(tmp_path, EXAMPLE.read_text(encoding="utf-8") + TICKETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OOS_ENV_FILE", raising=False)
    code, _, err = run(capsys, "tickets", "retry", "--config", path)
    assert code == 2 and "OOS_TEST_JIRA_TOKEN" in err

    (tmp_path / ".env").write_text(
        "OOS_TEST_JIRA_EMAIL=ops@example.com\nOOS_TEST_JIRA_TOKEN=from-dotenv\n", encoding="utf-8"
    )
    monkeypatch.setenv("OOS_TEST_JIRA_EMAIL", "ops@acme.example")  # the environment wins
    code, _, err = run(capsys, "tickets", "retry", "--config", path)
    assert code == 0, err  # nothing queued: nothing sent, nothing missing
    import os

    assert os.environ["OOS_TEST_JIRA_TOKEN"] == "from-dotenv"
    assert os.environ["OOS_TEST_JIRA_EMAIL"] == "ops@acme.example"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'name = "caf\xe9"\n', "not UTF-8 text (byte 0xe9 at offset 11); save it as UTF-8"),
        (None, "cannot read it"),
    ],
)
def test_an_unreadable_config_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "stack.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    code, _, err = run(capsys, "check-config", str(path))
    assert code == 2 and message in err and err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"oos \S+\n", capsys.readouterr().out)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_bad_port_is_one_line(capsys: pytest.CaptureFixture[str], port: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--sandbox", "--port", port])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "--port" in err
    assert "Traceback" not in err


def test_an_internal_error_is_a_reference_without_v_and_details_with_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the secret inner workings")

    monkeypatch.setattr("bot.cli.load_library", broken)
    code, out, err = run(capsys, "scenarios")
    assert code == 1 and out == ""
    assert re.fullmatch(
        r"oos: internal error \(ref [0-9a-f]{8}\); run again with -v for the details\n", err
    )

    code, _, err = run(capsys, "-v", "scenarios")
    assert code == 1 and "Traceback" in err and "the secret inner workings" in err
