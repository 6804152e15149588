"""Outside text is data everywhere: scenarios whose every vendor free-text field (hold notes,
connector messages, ERP memos, listing issues, titles, status reasons) carries mentions, a
phishing link, ``&`` and a terminal escape, triaged through the real endpoint. Nothing any
surface shows — blocks, fallback ``text``, the text-only re-post, file comments, App Home,
the ticket body, the CLI — turns that text into a ping, a mention or a link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from bot.compose import scenario_target
from bot.engine import triage
from bot.outside_text import link, outside, user_mention
from bot.render_text import render_text
from bot.report import Report
from bot.slack.blocks import evidence, progress, replies, verdict
from bot.tickets.fingerprint import fingerprint_of
from bot.tickets.render import Scrubber, ticket_draft
from tests.slack.conftest import HarnessFactory, verdict_of
from tests.slack.fake_slack import FakeSlack
from tools.sandbox.scenario import ScenarioError, library_dir, parse_scenario
from tools.ticketing.base import Routing

HOSTILE = (
    " <!everyone> <!channel> <!here> <@U0EVIL> <!subteam^S0EVIL> <#C0EVIL> "
    "<https://phish.example/login|reset your password> R&D [code]<b>x</b>[/code] \x1b[2J\x07"
)
# Every key whose value is a vendor's free text in the scenarios' systems.
FREE_TEXT = {"title", "name", "memo", "message", "error", "status_reason", "note", "reason"}
SYSTEMS = {"storefront", "marketplaces", "middleware", "erp", "wms"}
SCENARIOS = {
    "l1_inventory_hold": "hold note",
    "l2_listing_suppressed": "listing issue",
    "l3_flow_suspended": "connector message",
    "l4_webhook_rejected": "webhook error",
    "hop_duplicate_adjustment": "ERP memo",
}
FORBIDDEN = ("<!everyone", "<!channel", "<!here", "<@U0EVIL", "<!subteam^S0EVIL", "<#C0EVIL")


Path = tuple[str | int, ...]


def free_text_paths(value: Any, path: Path = (), key: str | None = None) -> Iterator[Path]:
    """Where the vendors' free text is: strings under a system, at a free-text key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from free_text_paths(v, (*path, k), k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from free_text_paths(v, (*path, i), key)
    elif isinstance(value, str) and path[0] in SYSTEMS and (key in FREE_TEXT or key == "holds"):
        yield path


def poisoned(value: Any, paths: set[Path], path: Path = ()) -> Any:
    if isinstance(value, dict):
        return {k: poisoned(v, paths, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [poisoned(v, paths, (*path, i)) for i, v in enumerate(value)]
    return value + HOSTILE if path in paths else value


def hostile_scenarios() -> dict[str, Any]:
    """Each scenario with ``HOSTILE`` appended to every free-text field its schema accepts it in
    (an enum such as an adjustment's ``reason`` is not free text)."""
    out = {}
    for name in SCENARIOS:
        raw = yaml.safe_load((library_dir() / f"{name}.yaml").read_text())
        paths = set()
        for path in free_text_paths(raw):
            try:
                parse_scenario(poisoned(raw, {path}), name)
            except ScenarioError:
                continue
            paths.add(path)
        assert len(paths) >= 3, f"{name}: too little poisoned: {sorted(map(str, paths))}"
        scenario = parse_scenario(poisoned(raw, paths), name)
        out[scenario.sku] = scenario
    return out


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def mrkdwn_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for v in value.values():
            yield from mrkdwn_objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from mrkdwn_objects(v)


def assert_inert(text: str, where: str) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, f"{where}: live {bad!r} in {text!r}"
    assert "<https://phish" not in text, f"{where}: a link the bot did not build"
    assert "\x1b" not in text and "\x07" not in text, f"{where}: a control character"
    assert "R&D" not in text, f"{where}: an unescaped &"


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Any]:
    return hostile_scenarios()


async def test_hostile_vendor_text_reaches_slack_as_escaped_data(
    make_harness: HarnessFactory, fake_slack: FakeSlack, scenarios: dict[str, Any]
) -> None:
    def resolve(sku: str, latency: float = 0.0) -> Any:
        return scenario_target(scenarios[sku], latency)

    harness = await make_harness(resolve=resolve)
    for i, sku in enumerate(scenarios):
        thread = await harness.triage(sku, channel=f"C{i}")
        await thread.press(verdict.ACTION_EVIDENCE)
        await thread.press(verdict.ACTION_RESOLVE)
        await harness.services.runner.drain()
    await harness.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    await fake_slack.wait_for(lambda: fake_slack.calls_to("views.publish"), "the Home view")

    shown = 0
    for call in fake_slack.calls:
        for text in strings(call.params):
            assert_inert(text, call.method)
            shown += "&lt;!everyone&gt;" in text
        for obj in mrkdwn_objects(call.params):
            assert obj.get("verbatim") is True, f"{call.method}: mrkdwn not verbatim: {obj}"
    for response in fake_slack.responses:
        for text in strings(response):
            assert_inert(text, "response_url")
    assert shown, "the hostile text is shown (escaped), not dropped"
    verdicts = [m for m in fake_slack.messages.values() if verdict_of(m)]
    assert len(verdicts) >= len(scenarios)
    assert all("&lt;" in m.text or "&lt;" in m.everything for m in verdicts)


async def hostile_reports(scenarios: dict[str, Any]) -> list[Report]:
    out = []
    for scenario in scenarios.values():
        target = scenario_target(scenario)
        try:
            out.append(await triage(scenario.sku, target.stack, now=target.clock))
        finally:
            await target.close()
    return out


async def test_every_slack_builder_keeps_hostile_report_text_inert(
    scenarios: dict[str, Any],
) -> None:
    for report in await hostile_reports(scenarios):
        messages = [
            verdict.verdict_message(report, "t1"),
            progress.progress_message(report.sku, {}, state="failed", reason=HOSTILE),
            progress.error_message(report.sku, reference="r1", reason=HOSTILE),
        ]
        for message in messages:
            for text in [message.text, *strings(message.blocks)]:
                assert_inert(text, report.sku)
        # The text-only re-post when Slack refuses the blocks, and the file comment.
        for text in (verdict.verdict_text(report), evidence.evidence_files(report, "t1").comment):
            assert_inert(text, report.sku)
            assert "https://phish" not in text, "no bare URL Slack would link in plain text"


async def test_tickets_and_the_cli_keep_hostile_text_inert(scenarios: dict[str, Any]) -> None:
    for report in await hostile_reports(scenarios):
        fp = fingerprint_of(report)
        if fp is None:
            continue
        draft = ticket_draft(
            report,
            fp,
            Routing(),
            triage_id="t1",
            thread_url="https://acme.slack.com/archives/C1/p1",
            scrubber=Scrubber(),
        )
        body = draft.body.plain()
        assert "[code]" in HOSTILE and "[code]" not in body.lower() and "[/code]" not in body
        assert "[code]" not in draft.summary.lower()
        links = [r.link for b in draft.body.blocks for r in getattr(b, "runs", ()) if r.link]
        assert links == ["https://acme.slack.com/archives/C1/p1"], "only the link the bot built"
        cli = render_text(report)
        assert "\x1b" not in cli and "\x07" not in cli
        assert "<!everyone>" in cli, "the terminal shows the data as it is"


def test_servicenow_code_tags_and_jira_wiki_marks_are_broken_in_tickets() -> None:
    hostile = "[code]<a href='https://phish.example'>x</a>[/code] [~admin] [^file] [CODE]"
    shown = Scrubber().text(hostile)
    assert "[code]" not in shown.lower() and "[/code]" not in shown.lower()
    assert "[~" not in shown and "[^" not in shown
    assert "phish.example" in shown, "the data is still there, inert"


def test_only_links_and_mentions_the_bot_builds_come_out() -> None:
    assert link("https://acme.atlassian.net/browse/OOS-1", "OOS-1") == (
        "<https://acme.atlassian.net/browse/OOS-1|OOS-1>"
    )
    assert link("javascript:alert(1)", "x") == "x"
    assert link("https://a.example/x|<!everyone>", "y") == "y"
    assert link("https://a.example/x", "<!here>") == "<https://a.example/x|&lt;!here&gt;>"
    assert user_mention("U123") == "<@U123>"
    assert user_mention("U1><!everyone") == "U1&gt;&lt;!everyone"
    assert outside("see https://x.example & <!here>", "plain") == (
        "see https:\u200b//x.example &amp; &lt;!here&gt;"
    )
    assert outside("\x1b[31mred\x1b[0m\n", "terminal") == "[31mred[0m\n"


def test_fallback_texts_of_monitoring_and_agent_replies_are_escaped() -> None:
    reply = replies.agent_reply(
        "SKU-1", "All clear <!channel> https://phish.example", [], model="m"
    )
    assert_inert(reply.text, "agent reply")
    assert "https://phish" not in reply.text
    resolved = verdict.resolved_notice("U1", "SKU-1")
    assert resolved.text == "SKU-1 marked resolved by <@U1>"
