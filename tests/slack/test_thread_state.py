"""Item 8: the progress message shows each layer as it is walked, and Mark resolved reaches the
thread's root line in the channel. Signed requests to the real endpoint, the strict fake API."""

from __future__ import annotations

from typing import Any

from bot.engine import triage
from bot.report import Report
from bot.slack.blocks import verdict
from bot.tree import LAYER_NAMES, LAYER_ORDER
from tests.slack.conftest import CAUSE, SKU, Harness, HarnessFactory


async def test_the_progress_message_shows_each_layer_as_it_is_walked(
    make_harness: HarnessFactory,
) -> None:
    seen: list[str] = []
    harness: Harness | None = None

    async def watched(sku: str, stack: Any, *, now: Any = None, progress: Any = None) -> Report:
        async def on_layer(layer: Any, checks: Any) -> None:
            await progress(layer, checks)
            assert harness is not None
            fake = harness.fake
            # The walk goes on only once Slack shows this layer: each one is seen on its own.
            walked = f"{LAYER_ORDER.index(layer) + 1} of {len(LAYER_ORDER)} checklist stages"
            shown = await fake.wait_for(
                lambda: next(
                    (c for c in fake.calls_to("chat.update") if walked in c.params["text"]), None
                ),
                f"the progress edit for {LAYER_NAMES[layer]}",
            )
            seen.append(shown.params["text"])

        return await triage(sku, stack, now=now, progress=on_layer)

    harness = await make_harness(engine=watched)
    thread = await harness.triage()
    assert len(seen) == len(LAYER_ORDER)
    assert all("(running)" in text for text in seen), "each layer while the walk runs"
    progress = thread.messages[1]
    assert "(done)" in progress.text
    for layer in LAYER_ORDER:
        assert LAYER_NAMES[layer] in progress.everything


async def test_mark_resolved_updates_the_threads_root_line(harness: Harness) -> None:
    thread = await harness.triage(user="U1")
    root = harness.fake.messages[thread.root_ts]
    assert CAUSE in root.everything and "Resolved by" not in root.everything

    await thread.press(verdict.ACTION_RESOLVE, user="U5")
    await harness.fake.wait_for(lambda: "Resolved by" in root.everything, "the root line")
    await harness.services.runner.drain()
    assert "<@U5>" in root.text and "started by <@U1>" in root.text, "who started, who resolved"
    assert CAUSE in root.everything, "the outcome stays"


async def test_mark_resolved_on_a_deleted_verdict_still_resolves_and_says_so(
    harness: Harness,
) -> None:
    thread = await harness.triage()
    triage_id = thread.triage_id
    harness.fake.delete(thread.verdicts[0].ts)
    await harness.click(
        verdict.ACTION_RESOLVE, triage_id, message_ts="1700000000.999999", thread_ts=thread.root_ts
    )
    await harness.fake.wait_for(
        lambda: any("marked" in m.text for m in thread.messages), "the resolved notice"
    )
    row, _ = harness.store.get(triage_id) or ({}, None)
    assert row.get("resolved_by") == "U1"
    assert SKU in harness.fake.messages[thread.root_ts].text
