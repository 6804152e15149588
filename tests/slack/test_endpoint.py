"""Scenario tests: signed requests to the real HTTP endpoint, a fake Web API recording calls.

Nothing here waits on time: background work is awaited by polling the fake's recorded calls
in a bounded loop, and "the ack did not wait for the triage" is shown by holding the triage's
first Web API call and getting the ack anyway.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from datetime import datetime
from typing import Any

import pytest

from bot.report import Report
from bot.slack.blocks import common
from bot.slack.blocks import verdict as verdict_blocks
from bot.slack.settings import AccessPolicy
from tests.slack.conftest import CAUSE, SKU, Harness, HarnessFactory, sign, verdict_of
from tests.slack.fake_slack import FakeSlack
from tests.slack.reports import huge_triage

# --- /oos SKU: the happy path -----------------------------------------------------------------


async def test_oos_acks_before_any_triage_work_then_fills_the_thread(harness: Harness) -> None:
    fake = harness.fake
    release = fake.hold("chat.postMessage")

    reply = await harness.command(SKU)

    # The ack came back while the triage's first Slack call was still held: it did not wait.
    assert reply.status == 200
    assert reply.body == ""
    assert "chat.postMessage" not in fake.methods()
    assert harness.store.count() == 0

    release.set()
    root = await fake.wait_for(lambda: next(iter(fake.roots("C1")), None), "the root message")
    await fake.wait_for(
        lambda: any(verdict_of(m) for m in fake.thread("C1", root.ts)), "the verdict"
    )
    await harness.services.runner.drain()

    assert root.text.startswith(f"Triage for {SKU} started by <@U1>")
    messages = fake.thread("C1", root.ts)
    assert len(messages) == 3, "one progress message updated in place, then the verdict"
    first, progress, verdict = messages
    assert first is root

    # Progress: every chat.update on the thread targets the progress or root message only.
    updated = {c.params["ts"] for c in fake.calls_to("chat.update")}
    assert progress.ts in updated
    assert updated <= {progress.ts, root.ts}
    assert progress.updates >= 1
    assert "Checklist walked" in progress.everything
    assert "Layer 3 · middleware connector" in progress.everything
    assert "L3.flow_status" in progress.everything

    # Verdict: cause code in the text (searchable), the six evidence items, four buttons.
    assert CAUSE in verdict.text
    for item in ("E1", "E2", "E3", "E4", "E5", "E6"):
        assert f"*{item} · " in verdict.everything
    assert "INVALID_LOGIN_ATTEMPT" in verdict.everything
    assert "Integration admin" in verdict.everything
    actions = next(b for b in verdict.blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        verdict_blocks.ACTION_RERUN,
        verdict_blocks.ACTION_RESOLVE,
        verdict_blocks.ACTION_EVIDENCE,
        verdict_blocks.ACTION_TICKET,
    ]
    assert len(verdict.blocks) <= common.MAX_BLOCKS

    # The root message now carries the outcome, still starting with who started it.
    assert CAUSE in root.text and root.text.startswith(f"Triage for {SKU} started by <@U1>")

    # Saved with channel, thread and user.
    (row,) = harness.store.recent()
    assert (row["channel"], row["thread_ts"], row["user"], row["origin"]) == (
        "C1",
        root.ts,
        "U1",
        "slack",
    )
    assert row["cause"] == CAUSE
    assert verdict_of(verdict) == row["id"]


# --- signatures -------------------------------------------------------------------------------


async def test_a_bad_signature_is_refused_with_401(harness: Harness) -> None:
    body = urllib.parse.urlencode(
        {"command": "/oos", "text": SKU, "user_id": "U1", "channel_id": "C1"}
    )
    reply = await harness.post(
        body, "application/x-www-form-urlencoded", sign(body, secret="not-the-secret")
    )
    assert reply.status == 401
    assert harness.store.count() == 0
    assert "chat.postMessage" not in harness.fake.methods()


async def test_a_replayed_request_is_refused_with_401(harness: Harness) -> None:
    body = urllib.parse.urlencode(
        {"command": "/oos", "text": SKU, "user_id": "U1", "channel_id": "C1"}
    )
    stale = int(time.time()) - 10 * 60  # Slack's window is five minutes
    reply = await harness.post(
        body, "application/x-www-form-urlencoded", sign(body, timestamp=stale)
    )
    assert reply.status == 401


async def test_an_unsigned_request_is_refused_with_401(harness: Harness) -> None:
    body = urllib.parse.urlencode({"command": "/oos", "text": SKU})
    reply = await harness.post(body, "application/x-www-form-urlencoded", {})
    assert reply.status == 401


# --- usage, monitoring, refusals --------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "", "  "])
async def test_help_and_bare_command_answer_usage_ephemerally(harness: Harness, text: str) -> None:
    reply = await harness.command(text)
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    assert "/oos SKU" in json.dumps(answer)
    assert "chat.postMessage" not in harness.fake.methods()


@pytest.mark.parametrize("name", ["drift", "health", "map"])
async def test_monitoring_commands_say_monitoring_is_not_configured(
    harness: Harness, name: str
) -> None:
    reply = await harness.command(name)
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    assert f"/oos {name}" in answer["text"] and "not configured yet" in answer["text"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("SKU-3101 SKU-3102", "one SKU at a time"),
        ("SKU<3101>", "may contain letters and digits of any script"),
        ("x" * 80, "at most 64"),
    ],
)
async def test_a_malformed_sku_is_refused_ephemerally(
    harness: Harness, text: str, says: str
) -> None:
    reply = await harness.command(text)
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    assert "is not a SKU I can look up" in answer["text"] and says in answer["text"]
    assert harness.store.count() == 0


async def test_an_unknown_sku_is_refused_ephemerally_after_the_ack(harness: Harness) -> None:
    reply = await harness.command("SKU-NOT-IN-CATALOG")
    assert (reply.status, reply.body) == (200, "")
    response = await harness.fake.wait_for(lambda: harness.fake.responses, "the refusal")
    assert response[0]["response_type"] == "ephemeral"
    assert "SKU-NOT-IN-CATALOG is not in the sandbox catalog" in response[0]["text"]
    await harness.services.runner.drain()
    assert "chat.postMessage" not in harness.fake.methods()
    assert harness.store.count() == 0


async def test_a_channel_not_allowed_is_refused_in_the_ack(make_harness: HarnessFactory) -> None:
    harness = await make_harness(access=AccessPolicy(channels=frozenset({"COPS"})))
    reply = await harness.command(SKU, channel="CRANDOM")
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    assert "not enabled in this channel" in answer["text"]
    assert "chat.postMessage" not in harness.fake.methods()

    allowed = await harness.triage(SKU, channel="COPS")
    assert allowed.verdicts


async def test_a_user_not_allowed_is_refused(make_harness: HarnessFactory) -> None:
    harness = await make_harness(access=AccessPolicy(users=frozenset({"U2"})))
    answer = (await harness.command(SKU, user="U1")).json()
    assert answer["response_type"] == "ephemeral"
    assert "not allowed to use `/oos`" in answer["text"]


async def test_user_groups_admit_members_and_refuse_others(make_harness: HarnessFactory) -> None:
    harness = await make_harness(access=AccessPolicy(usergroups=frozenset({"S1"})))
    harness.fake.usergroups["S1"] = ["U2"]

    reply = await harness.command(SKU, user="U1")
    assert (reply.status, reply.body) == (200, "")
    response = await harness.fake.wait_for(lambda: harness.fake.responses, "the refusal")
    assert "not allowed" in response[0]["text"]
    await harness.services.runner.drain()
    assert "chat.postMessage" not in harness.fake.methods()

    thread = await harness.triage(SKU, user="U2")
    assert thread.verdicts
    assert [c.params["usergroup"] for c in harness.fake.calls_to("usergroups.users.list")] == ["S1"]


# --- buttons ----------------------------------------------------------------------------------


async def test_rerun_walks_again_in_the_same_thread(harness: Harness) -> None:
    thread = await harness.triage()

    reply = await thread.press(verdict_blocks.ACTION_RERUN, user="U7")
    assert (reply.status, reply.body) == (200, "")
    await harness.fake.wait_for(lambda: len(thread.verdicts) == 2, "the second verdict")
    await harness.services.runner.drain()

    assert len(harness.fake.roots("C1")) == 1, "a re-run posts no new root message"
    assert len(thread.messages) == 5  # root, progress, verdict, progress, verdict
    assert "re-run by <@U7>" in thread.messages[3].everything
    rows = harness.store.recent()
    assert len(rows) == 2 and {r["thread_ts"] for r in rows} == {thread.root_ts}
    assert rows[0]["user"] == "U7"


async def test_evidence_file_uses_the_external_upload_flow(harness: Harness) -> None:
    thread = await harness.triage()
    fake = harness.fake
    before = len(fake.calls)

    await thread.press(verdict_blocks.ACTION_EVIDENCE)
    await fake.wait_for(
        lambda: fake.calls_to("files.completeUploadExternal"), "the upload to complete"
    )

    flow = [c.method for c in fake.calls[before:]]
    assert flow == [
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "upload",
        "upload",
        "files.completeUploadExternal",
    ]
    names = [c.params["filename"] for c in fake.calls_to("files.getUploadURLExternal")]
    assert names[0].endswith(".json") and names[1].endswith(".md")
    (complete,) = fake.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C1"
    assert complete.params["thread_ts"] == thread.root_ts
    assert len(complete.params["files"]) == 2

    json_file, md_file = (fake.uploads[c["id"]] for c in complete.params["files"])
    report = Report.model_validate_json(json_file)
    assert report.sku == SKU and report.verdict.cause == CAUSE
    markdown = md_file.decode()
    assert markdown.startswith(f"# Out-of-stock triage: {SKU}")
    assert "### E5 · ERP webhook log" in markdown


async def test_open_ticket_says_no_ticket_system_is_configured(harness: Harness) -> None:
    thread = await harness.triage()
    await thread.press(verdict_blocks.ACTION_TICKET)
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the answer")
    assert answer["response_type"] == "ephemeral"
    assert "No ticket system is configured yet" in answer["text"]
    assert CAUSE in answer["text"] and "Integration admin" in answer["text"]


async def test_mark_resolved_updates_the_verdict_and_says_so_in_the_thread(
    harness: Harness,
) -> None:
    thread = await harness.triage()
    verdict = thread.verdicts[0]
    updates_before = verdict.updates

    await thread.press(verdict_blocks.ACTION_RESOLVE, user="U5")
    await harness.fake.wait_for(lambda: verdict.updates > updates_before, "the verdict update")
    await harness.fake.wait_for(lambda: "marked" in thread.messages[-1].text, "the notice")

    assert "Marked resolved by <@U5>" in verdict.everything
    assert CAUSE in verdict.text
    actions = next(b for b in verdict.blocks if b["type"] == "actions")
    assert verdict_blocks.ACTION_RESOLVE not in [e["action_id"] for e in actions["elements"]]
    assert "<@U5> marked" in thread.messages[-1].everything


async def test_state_changing_buttons_follow_the_action_rule(make_harness: HarnessFactory) -> None:
    harness = await make_harness(access=AccessPolicy(action_users=frozenset({"ULEAD"})))
    thread = await harness.triage()
    verdict = thread.verdicts[0]

    await thread.press(verdict_blocks.ACTION_RESOLVE)
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the refusal")
    assert "not allowed to use this action" in answer["text"]
    assert verdict.updates == 0

    # Anyone may still fetch the evidence file (it changes nothing).
    await thread.press(verdict_blocks.ACTION_EVIDENCE)
    await harness.fake.wait_for(
        lambda: harness.fake.calls_to("files.completeUploadExternal"), "the evidence upload"
    )


async def test_a_button_for_an_unknown_triage_answers_clearly(harness: Harness) -> None:
    await harness.click(
        verdict_blocks.ACTION_EVIDENCE, "deadbeef0000", message_ts="1.1", thread_ts="1.1"
    )
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the answer")
    assert "I no longer have that triage" in answer["text"]


# --- events -----------------------------------------------------------------------------------


async def test_a_mention_in_the_thread_is_answered_from_the_saved_report(harness: Harness) -> None:
    thread = await harness.triage()
    reply = await harness.event(
        {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT> what does the webhook log say?",
            "ts": "1700000099.000001",
            "thread_ts": thread.root_ts,
            "channel": "C1",
        }
    )
    assert reply.status == 200
    answer = await harness.fake.wait_for(
        lambda: next((m for m in thread.messages if "webhook log" in m.text.lower()), None),
        "the answer",
    )
    assert answer.thread_ts == thread.root_ts
    assert "E5" in answer.everything and "the ERP never received it" in answer.everything


async def test_a_mention_outside_a_triage_thread_points_to_oos(harness: Harness) -> None:
    await harness.event(
        {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT> hi",
            "ts": "1700000099.000002",
            "channel": "C1",
        }
    )
    reply = await harness.fake.wait_for(
        lambda: harness.fake.calls_to("chat.postMessage"), "the reply"
    )
    assert reply[0].params["thread_ts"] == "1700000099.000002"
    assert "/oos SKU-1042" in reply[0].params["text"]


async def test_app_home_shows_the_users_recent_triages(harness: Harness) -> None:
    thread = await harness.triage()
    await harness.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    (call,) = await harness.fake.wait_for(
        lambda: harness.fake.calls_to("views.publish"), "views.publish"
    )
    assert call.params["user_id"] == "U1"
    view = call.params["view"]
    assert view["type"] == "home"
    text = json.dumps(view)
    assert SKU in text and CAUSE in text
    assert f"archives/C1/p{thread.root_ts.replace('.', '')}" in text


async def test_app_home_for_a_new_user_says_how_to_start(harness: Harness) -> None:
    await harness.event({"type": "app_home_opened", "user": "UNEW", "channel": "D1", "tab": "home"})
    (call,) = await harness.fake.wait_for(
        lambda: harness.fake.calls_to("views.publish"), "views.publish"
    )
    assert "No triages yet" in json.dumps(call.params["view"])


# --- Slack's rate limits, and failures --------------------------------------------------------


async def test_a_429_on_chat_post_message_is_retried_and_the_message_arrives_once(
    harness: Harness,
) -> None:
    harness.fake.rate_limit_once("chat.postMessage", retry_after=0)
    harness.fake.rate_limit_once("chat.update", retry_after=0)
    thread = await harness.triage()

    attempts = harness.fake.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts][:2] == [429, 200]
    roots = [c for c in attempts if c.status == 200 and "thread_ts" not in c.params]
    assert len(roots) == 1 and roots[0].params["text"].startswith(f"Triage for {SKU}")
    assert len(harness.fake.roots("C1")) == 1
    assert len(thread.verdicts) == 1
    progress = thread.messages[1]
    assert "Checklist walked" in progress.everything


async def test_a_triage_that_raises_ends_the_thread_with_an_error_and_a_reference(
    make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def exploding(
        sku: str, stack: Any, *, now: datetime | None = None, progress: Any = None
    ) -> Report:
        await progress(1, [])
        raise RuntimeError("secret-ish internal detail")

    harness = await make_harness(engine=exploding)
    with caplog.at_level(logging.ERROR, logger="bot.slack.runner"):
        await harness.command(SKU)
        root = await harness.fake.wait_for(
            lambda: next(iter(harness.fake.roots("C1")), None), "the root"
        )
        await harness.fake.wait_for(
            lambda: any("could not finish" in m.text for m in harness.fake.thread("C1", root.ts)),
            "the error",
        )
        await harness.services.runner.drain()

    messages = harness.fake.thread("C1", root.ts)
    error = messages[-1]
    ref = re.search(r"Reference `?([0-9a-f]{8})", error.everything)
    assert ref, error.everything
    assert "Traceback" not in error.everything and "secret-ish" not in error.everything
    progress = messages[1]
    assert "stopped" in progress.everything and ref.group(1) in progress.everything
    assert "checking…" not in progress.everything, "the thread must not be left running"
    assert ref.group(1) in root.everything
    assert any(ref.group(1) in r.getMessage() and r.exc_info for r in caplog.records)
    assert harness.store.count() == 0


async def test_a_triage_that_takes_too_long_ends_in_an_error(make_harness: HarnessFactory) -> None:
    import asyncio

    async def stuck(
        sku: str, stack: Any, *, now: datetime | None = None, progress: Any = None
    ) -> Report:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    harness = await make_harness(engine=stuck, timeout=0.2)
    await harness.command(SKU)
    root = await harness.fake.wait_for(
        lambda: next(iter(harness.fake.roots("C1")), None), "the root"
    )
    error = await harness.fake.wait_for(
        lambda: next(
            (m for m in harness.fake.thread("C1", root.ts)[1:] if "could not finish" in m.text),
            None,
        ),
        "the error",
    )
    assert "it took longer than 0.2 s" in error.text
    assert re.search(r"Reference [0-9a-f]{8}", error.text)


async def test_when_the_bot_is_not_in_the_channel_the_user_is_told(harness: Harness) -> None:
    harness.fake.fail_once("chat.postMessage", "not_in_channel")
    await harness.command(SKU)
    (answer,) = await harness.fake.wait_for(lambda: harness.fake.responses, "the answer")
    assert "Invite me" in answer["text"]
    await harness.services.runner.drain()
    assert harness.store.count() == 0


async def test_blocks_refused_by_slack_still_deliver_the_verdict_as_text(harness: Harness) -> None:
    fake: FakeSlack = harness.fake
    fake.fail_once("chat.postMessage", "invalid_blocks", when=lambda p: verdict_of_params(p))
    await harness.command(SKU)
    root = await fake.wait_for(lambda: next(iter(fake.roots("C1")), None), "the root")
    last = await fake.wait_for(
        lambda: next(
            (m for m in fake.thread("C1", root.ts) if CAUSE in m.text and not m.blocks), None
        ),
        "the text-only verdict",
    )
    await harness.services.runner.drain()
    assert last.text.startswith(f"{SKU}: {CAUSE} (confirmed)")
    assert harness.store.count() == 1


def verdict_of_params(params: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in params.get("blocks") or [])


async def test_concurrent_commands_all_ack_and_all_threads_end_final(harness: Harness) -> None:
    import asyncio

    replies = await asyncio.gather(*(harness.command(SKU, channel=f"C{i}") for i in range(20)))
    assert all((r.status, r.body) == (200, "") for r in replies)
    await harness.fake.wait_for(lambda: harness.store.count() == 20, "twenty saved triages")
    await harness.services.runner.drain()
    for i in range(20):
        (root,) = harness.fake.roots(f"C{i}")
        assert any(verdict_of(m) for m in harness.fake.thread(f"C{i}", root.ts))
    assert harness.fake.methods().count("auth.test") == 1, "the bot identity is asked once"


async def test_a_verdict_too_long_for_one_message_attaches_the_evidence_file(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(engine=huge_triage)
    await harness.command(SKU)
    (complete,) = await harness.fake.wait_for(
        lambda: harness.fake.calls_to("files.completeUploadExternal"), "the automatic evidence file"
    )
    await harness.services.runner.drain()
    (root,) = harness.fake.roots("C1")
    assert complete.params["thread_ts"] == root.ts
    (verdict,) = [m for m in harness.fake.thread("C1", root.ts) if verdict_of(m)]
    assert len(verdict.blocks) <= common.MAX_BLOCKS
    assert "full text is in the Evidence file" in verdict.everything


async def test_a_failed_attachment_leaves_the_verdict_standing(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(engine=huge_triage)
    harness.fake.fail_once("files.completeUploadExternal", "internal_error")
    await harness.command(SKU)
    root = await harness.fake.wait_for(lambda: next(iter(harness.fake.roots("C1")), None), "root")
    note = await harness.fake.wait_for(
        lambda: next(
            (m for m in harness.fake.thread("C1", root.ts) if "could not be attached" in m.text),
            None,
        ),
        "the note",
    )
    await harness.services.runner.drain()
    messages = harness.fake.thread("C1", root.ts)
    assert messages[-1] is note
    assert "Checklist walked" in messages[1].everything, "the walk still reads as done"
    assert any(verdict_of(m) for m in messages)
