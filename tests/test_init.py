"""``oos init``: answers on stdin, a commented partial config out, which ``oos discover`` reads
against the emulators into a config that ``check-config`` passes."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.discover import discover, load_partial, render
from bot.live import check_stack
from bot.sandbox_stack import sandbox_systems


def _init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], out: Path, answers: str
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(answers))
    code = main(["init", "--out", str(out)])
    return code, capsys.readouterr().err


def test_no_answers_write_the_common_stack_with_default_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "stack.toml"
    code, err = _init(monkeypatch, capsys, out, "")
    assert code == 0 and f"wrote {out}" in err
    text = out.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["storefront"]["credentials"] == {"access_token": "SHOPIFY_ADMIN_TOKEN"}
    assert data["marketplaces"][0]["vendor"] == "amazon"
    assert data["erp"]["options"] == {"account_id": "1234567", "timezone": "UTC"}
    assert "# see docs/vendors/netsuite.md" in text
    assert "oos discover --config stack.toml" in text
    assert load_partial(out).systems  # what `oos discover` reads


async def test_answers_become_a_config_discover_completes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    systems = sandbox_systems()
    for name, secret in systems.environ.items():
        monkeypatch.setenv(name, secret)
    partial = systems.partial
    erp = partial["erp"]["options"]
    answers = [
        "sandbox",
        "shopify",
        partial["storefront"]["options"]["shop"],
        "OOS_SANDBOX_SHOPIFY_TOKEN",
        "amazon",
        "na",
        partial["marketplaces"][0]["options"]["seller_id"],
        "OOS_SANDBOX_SP_API_CLIENT_ID",
        "OOS_SANDBOX_SP_API_CLIENT_SECRET",
        "OOS_SANDBOX_SP_API_REFRESH_TOKEN",
        "celigo",
        "us",
        "OOS_SANDBOX_CELIGO_TOKEN",
        "netsuite",
        erp["account_id"],
        erp["timezone"],
        *partial["erp"]["credentials"].values(),
    ]
    out = tmp_path / "stack.toml"
    code, _ = _init(monkeypatch, capsys, out, "\n".join(answers) + "\n")
    assert code == 0
    loaded = load_partial(out)
    text = render(loaded, await discover(loaded, transports=systems.transports))
    full = tmp_path / "full.toml"
    full.write_text(text, encoding="utf-8")
    results = await check_stack(load_config(full), transports=systems.transports)
    assert all(r.ok for r in results), [r.line() for r in results]


def test_a_secret_for_a_variable_name_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "stack.toml"
    code, err = _init(monkeypatch, capsys, out, "\n\nacme\nshpat_0123abcd\nMY_SHOP_TOKEN\n")
    assert code == 0
    assert "'shpat_0123abcd' will not do: an environment variable NAME" in err
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert data["storefront"]["credentials"] == {"access_token": "MY_SHOP_TOKEN"}
    assert "shpat_0123abcd" not in out.read_text(encoding="utf-8")


def test_an_existing_file_is_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "stack.toml"
    out.write_text("mine\n", encoding="utf-8")
    code, err = _init(monkeypatch, capsys, out, "")
    assert code == 2 and "exists" in err
    assert out.read_text(encoding="utf-8") == "mine\n"
