"""The ``oos`` command, as a user runs it: output, JSON shape, bad input and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import TriageStore

SKU = "SKU-3101"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_human_output_puts_the_verdict_first_then_checks_then_evidence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "triage", SKU, "--sandbox")
    assert code == 0, err
    verdict, checks, evidence = (
        out.index("Verdict"),
        out.index("Checks"),
        out.index("Evidence package"),
    )
    assert verdict < checks < evidence
    assert "L3.flow_suspended" in out[:checks]
    assert "Next step" in out[:checks] and "Integration admin" in out[:checks]
    walk = [out.index(f"Layer {n} ·", checks) for n in (1, 2, 3, 4)]
    assert walk == sorted(walk)
    for item in ("E1", "E2", "E3", "E4", "E5", "E6"):
        assert f"  {item}  " in out[evidence:]


def test_json_report_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "triage", SKU, "--sandbox", "--json")
    assert code == 0
    report = json.loads(out)
    assert {"sku", "pattern", "verdict", "checks", "evidence", "escalation", "secondary"} <= set(
        report
    )
    assert {"layer", "cause", "confidence", "summary"} <= set(report["verdict"])
    assert report["verdict"]["cause"] == "L3.flow_suspended"
    assert {"owner", "ticket"} <= set(report["escalation"])
    assert [e["id"] for e in report["evidence"]] == ["E1", "E2", "E3", "E4", "E5", "E6"]
    fact_ids = {f["id"] for f in report["facts"]}
    for check in report["checks"]:
        assert {"layer", "id", "status", "detail", "evidence"} <= set(check)
        assert check["status"] in {"pass", "fail", "unknown", "skipped"}
        assert set(check["evidence"]) <= fact_ids, check["id"]
    for item in report["evidence"]:
        assert item["source"] and set(item["facts"]) <= fact_ids


def test_every_triage_is_saved_in_the_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "cli.db"
    run(capsys, "triage", SKU, "--sandbox", "--db", str(db))
    run(capsys, "triage", SKU, "--sandbox", "--db", str(db))
    store = TriageStore(db)
    rows = store.recent(sku=SKU)
    assert len(rows) == 2 and all(
        r["origin"] == "cli" and r["cause"] == "L3.flow_suspended" for r in rows
    )


def test_sandbox_triages_keep_a_store_of_their_own(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOS_DB", str(tmp_path / "live.db"))
    code, _, _ = run(capsys, "triage", SKU, "--sandbox")
    assert code == 0
    assert not (tmp_path / "live.db").exists()
    assert len(TriageStore(tmp_path / "live-sandbox.db").recent(sku=SKU)) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["triage", "", "--sandbox"], "the SKU is empty"),
        (["triage", "   ", "--sandbox"], "the SKU is empty"),
        (["triage", "SKU-" + "9" * 80, "--sandbox"], "at most 64"),
        (["triage", "SKU-1\x1b[2J", "--sandbox"], "control characters"),
        (["triage", "SKU 1; rm", "--sandbox"], "may contain letters and digits"),
        (["triage", "SKU-DOES-NOT-EXIST", "--sandbox"], "not in the sandbox catalog"),
        (["triage", SKU], "--sandbox"),
        (["triage", SKU, "--config", "no-such-stack.toml"], "cannot read it"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sku: [unclosed", "not valid YAML"),
        ("- just a list", "a scenario is a mapping"),
        (
            "sku: SKU-3101\nname: x\nchecklist: y\nclock: yesterday\n",
            "'clock' must be an ISO 8601 time",
        ),
        (
            "sku: SKU-3101\nname: x\nchecklist: y\nclock: 2026-11-20T07:00:00Z\n"
            "expected: {pattern: in_sync, layer: null, cause: null, confidence: confirmed}\n"
            "storefront: {system: shopify, sku: SKU-3101, available: many}\n"
            "middleware: {vendor: celigo, flows: []}\n"
            "erp: {vendor: netsuite, item: {item_id: '1', sku: SKU-3101, name: n}, available: 1}\n",
            "storefront.StorefrontSnapshot.available",
        ),
    ],
)
def test_a_malformed_scenario_file_is_named_with_its_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    code, out, err = run(capsys, "triage", SKU, "--sandbox", str(path))
    assert code == 2 and out == ""
    assert "broken.yaml" in err and message in err and err.count("\n") == 1


def test_a_scenario_file_runs_on_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.sandbox.scenario import library_dir

    code, out, _ = run(
        capsys, "triage", SKU, "--sandbox", str(library_dir() / "l3_flow_suspended.yaml"), "--json"
    )
    assert code == 0 and json.loads(out)["verdict"]["cause"] == "L3.flow_suspended"


def test_an_unusable_store_warns_but_still_prints_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "half-written.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 200)
    code, out, err = run(capsys, "triage", SKU, "--sandbox", "--db", str(db))
    assert code == 0
    assert "L3.flow_suspended" in out
    assert "was not saved" in err and "Traceback" not in err


def test_scenarios_json_lists_sku_name_and_expectation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenarios", "--json")
    rows = json.loads(out)
    assert code == 0 and rows
    row = next(r for r in rows if r["sku"] == SKU)
    assert row["name"] and row["expected"] == {
        "pattern": "all_channels_oos_erp_stock",
        "layer": 3,
        "cause": "L3.flow_suspended",
        "confidence": "confirmed",
    }
    assert len({r["sku"] for r in rows}) == len(rows)


def test_the_console_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "triage", SKU, "--sandbox", "--no-save"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "L3.flow_suspended" in proc.stdout


EXAMPLE_CONFIG = str(Path(__file__).resolve().parents[1] / "examples" / "stack.toml")
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


def test_check_config_names_each_missing_variable_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*VENDOR_ENV, "SLACK_BOT_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(capsys, "check-config", EXAMPLE_CONFIG)
    assert code == 1
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == [
        "storefront",
        "marketplace:amazon",
        "middleware",
        "erp",
        "slack:auth",
        "model",
    ]
    assert all(line.startswith("FAIL") and "is not set" in line for line in lines[:4])
    assert "SHOPIFY_ADMIN_TOKEN" in lines[0]
    # Slack and the model are optional for the CLI: said, not failed.
    assert lines[4].startswith("WARN") and "SLACK_BOT_TOKEN is not set" in lines[4]
    assert lines[5].startswith("WARN") and "OPENAI_API_KEY is not set" in lines[5]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[storefront\n", "not valid TOML"),
        ('[storefront]\nvendor = "shopify"\n', "middleware: required, and missing"),
        (
            '[storefront]\nvendor = "shopify"\ncredentials = { access_token = "shpat_0123456789abcdef" }\n'
            '[middleware]\nvendor = "celigo"\n[erp]\nvendor = "netsuite"\n',
            "must name an environment variable",
        ),
        (
            '[storefront]\nvendor = "woo"\n[middleware]\nvendor = "celigo"\n[erp]\nvendor = "netsuite"\n',
            "storefront.vendor: 'woo' is not a storefront vendor (known: shopify)",
        ),
    ],
)
def test_a_bad_stack_config_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(content)
    code, out, err = run(capsys, "triage", "SKU-1", "--config", str(path))
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
