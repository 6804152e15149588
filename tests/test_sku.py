"""The one SKU rule (``tools/sku.py``) and every entry point that applies it: the scenario loader,
the CLI, Slack (``tests/slack/test_units.py``) and the store."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.engine import triage
from bot.store import TriageStore
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import ScenarioError, load_scenario_file, parse_scenario
from tools.sku import MAX_SKU_LENGTH, InvalidSku, unquote, validate_sku

NFD_CAFE = unicodedata.normalize("NFD", "Café Crème #2")


@pytest.mark.parametrize(
    ("raw", "sku"),
    [
        ("SKU-1042", "SKU-1042"),
        ("  SKU-1042  ", "SKU-1042"),
        ("Café Crème #2", "Café Crème #2"),
        (NFD_CAFE, "Café Crème #2"),  # decomposed accents become the precomposed SKU
        ("T-SHIRT+LOGO", "T-SHIRT+LOGO"),
        ("ТОВАР-7", "ТОВАР-7"),
        ("商品_12/A.b", "商品_12/A.b"),
        ("हिन्दी-1", "हिन्दी-1"),  # combining vowel signs of an Indic script
        ("x" * MAX_SKU_LENGTH, "x" * MAX_SKU_LENGTH),
    ],
)
def test_real_catalog_skus_are_accepted_in_nfc(raw: str, sku: str) -> None:
    assert validate_sku(raw) == sku
    assert unicodedata.is_normalized("NFC", validate_sku(raw))


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("SKU\n1", "control"),
        ("SKU\t1", "control"),
        ("SKU\u200b1", "invisible"),  # zero-width space
        ("SKU\u202e1", "invisible"),  # right-to-left override
        ("x" * (MAX_SKU_LENGTH + 1), f"at most {MAX_SKU_LENGTH}"),
        ("SKU<1>", "letters and digits of any script"),
        ("SKU;DROP", "letters and digits of any script"),
        ("#1", "must start with a letter or digit"),
    ],
)
def test_control_characters_overlong_and_stray_punctuation_are_refused(raw: str, says: str) -> None:
    with pytest.raises(InvalidSku, match=says):
        validate_sku(raw)


def test_unquote_takes_one_matching_pair() -> None:
    assert unquote('"Café Crème #2"') == "Café Crème #2"
    assert unquote("`SKU-1`") == "SKU-1"
    assert unquote("“SKU 1”") == "SKU 1"
    assert unquote("SKU-1") is None
    assert unquote("\"SKU-1'") is None


LIBRARY_FILE = Path(__file__).parents[1] / "tools" / "sandbox" / "scenarios" / "in_sync.yaml"


def _with_sku(sku: str) -> dict[str, object]:
    data = yaml.safe_load(LIBRARY_FILE.read_text(encoding="utf-8"))
    data["sku"] = sku
    return data


def test_the_loader_applies_the_rule() -> None:
    assert parse_scenario(_with_sku(NFD_CAFE), "x.yaml").sku == "Café Crème #2"
    with pytest.raises(ScenarioError, match="control characters or invisible"):
        parse_scenario(_with_sku("SKU\u200b1"), "x.yaml")
    assert load_scenario_file(LIBRARY_FILE).sku == "SKU-1000"


def test_the_cli_refuses_with_the_rule_and_finds_a_decomposed_sku(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["triage", "SKU\u202e1", "--sandbox"]) != 0
    assert "control characters" in capsys.readouterr().err
    data = _with_sku("Café Crème #2")
    scenario_file = tmp_path / "cafe.yaml"
    scenario_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["triage", NFD_CAFE, "--sandbox", str(scenario_file), "--json"]) == 0
    assert '"sku": "Caf' in capsys.readouterr().out


async def test_the_store_keys_a_sku_in_nfc(tmp_path: Path) -> None:
    scenario = parse_scenario(_with_sku("Café Crème #2"), "cafe.yaml")
    report = await triage(NFD_CAFE, memory_stack(scenario), now=scenario.clock)
    assert report.sku == "Café Crème #2"
    store = TriageStore(tmp_path / "t.db")
    store.save(report)
    assert [r["sku"] for r in store.recent(sku=NFD_CAFE)] == ["Café Crème #2"]
