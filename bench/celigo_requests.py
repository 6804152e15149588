"""What one Celigo read costs: requests and sequential round trips, over the emulator.

    python bench/celigo_requests.py

* library: every scenario of the library with a middleware state, read for its SKU over the
  72 h event window (the triage's ``since``), the account answering 1000 items a page as
  Celigo does; the total, mean and largest number of requests and of round trips;
* busy flow: one flow that runs every N minutes (5 and 1) over the event window, every run
  processing records: requests and round trips of a triage for one SKU;
* weekly health: ``flow_health`` over 7 days for one flow that runs every 10 minutes.

Round trips are counted by ``tests/adapters/rounds.LockStep`` (a request that needs another's
answer lands in a later round); no clock is involved. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.adapters.rounds import LockStep  # noqa: E402
from tools.middleware.celigo import DEFAULT_TOKEN_ENV, CeligoMiddleware  # noqa: E402
from tools.models import Flow, FlowHealth, MiddlewareSnapshot, Source  # noqa: E402
from tools.retry import RetryPolicy  # noqa: E402
from tools.sandbox.emulators.celigo import CeligoEmulator, flow_mappings_for  # noqa: E402
from tools.sandbox.scenario import load_library  # noqa: E402

NOW = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
EVENT_WINDOW = timedelta(hours=72)
PAGE = 1000  # items a Celigo list page holds
RETRY = RetryPolicy.off()
# Counted without the emulator's throttle: a 429 would be one more request, not a cost of the read.
UNTHROTTLED: dict[str, Any] = {"bucket_size": 1e9}


def _adapter(emulator: CeligoEmulator, transport: Any) -> CeligoMiddleware:
    state = emulator.state
    return CeligoMiddleware(
        flow_mappings_for(state),
        transport=transport,
        retry=RETRY,
        clock=lambda: state.read_at,
        environ={DEFAULT_TOKEN_ENV: emulator.token},
    )


async def _triage(emulator: CeligoEmulator, sku: str) -> tuple[int, int, str]:
    rounds = LockStep(emulator)
    adapter = _adapter(emulator, rounds)
    outcome = "read"
    try:
        await adapter.read_activity(sku, emulator.state.read_at - EVENT_WINDOW)
    except Exception as exc:  # a figure either way: say how it ended
        outcome = f"failed: {exc}"
    finally:
        await adapter.aclose()
    return len(emulator.calls), len(rounds.rounds), outcome


def _busy_state(minutes: int) -> tuple[MiddlewareSnapshot, list[FlowHealth]]:
    flow = Flow(
        id="f-busy",
        name="Inventory every few minutes",
        hop="storefront_to_erp",
        trigger="poll",
        interval_minutes=minutes,
        last_run_at=NOW - timedelta(minutes=minutes),
    )
    state = MiddlewareSnapshot(
        source=Source(system="celigo", endpoint="bench"), read_at=NOW, vendor="celigo", flows=[flow]
    )
    runs = int(EVENT_WINDOW / timedelta(minutes=minutes))
    health = FlowHealth(
        source=Source(system="celigo", endpoint="bench"),
        read_at=NOW,
        flow_id=flow.id,
        name=flow.name,
        hop=flow.hop,
        window_start=NOW - EVENT_WINDOW,
        runs=runs,
        records_ok=runs * 3,
    )
    return state, [health]


async def _health(minutes: int, days: int = 7) -> tuple[int, int, str]:
    state, _ = _busy_state(minutes)
    since = NOW - timedelta(days=days)
    runs = int(timedelta(days=days) / timedelta(minutes=minutes))
    health = FlowHealth(
        source=Source(system="celigo", endpoint="bench"),
        read_at=NOW,
        flow_id="f-busy",
        name="busy",
        hop="storefront_to_erp",
        window_start=since,
        runs=runs,
        records_ok=runs * 3,
    )
    emulator = CeligoEmulator(
        state, runs=[health], page_size=PAGE, error_page_size=PAGE, **UNTHROTTLED
    )
    rounds = LockStep(emulator)
    adapter = _adapter(emulator, rounds)
    outcome = "read"
    try:
        (read,) = await adapter.flow_health(since)
        outcome = f"{read.runs} of {runs} runs counted, complete={read.complete}"
    except Exception as exc:
        outcome = f"failed: {exc}"
    finally:
        await adapter.aclose()
    return len(emulator.calls), len(rounds.rounds), outcome


async def main() -> None:
    logging.disable(logging.WARNING)  # the figures, not the adapters' retry lines
    requests: list[int] = []
    trips: list[int] = []
    failed = 0
    for scenario in load_library().values():
        state = scenario.middleware
        if not isinstance(state, MiddlewareSnapshot):
            continue
        emulator = CeligoEmulator(state, page_size=PAGE, error_page_size=PAGE, **UNTHROTTLED)
        sent, rounds, outcome = await _triage(emulator, scenario.sku)
        requests.append(sent)
        trips.append(rounds)
        failed += outcome != "read"
    print(
        f"library     {len(requests)} scenarios · requests total {sum(requests)}, "
        f"mean {sum(requests) / len(requests):.1f}, max {max(requests)} · round trips "
        f"mean {sum(trips) / len(trips):.1f}, max {max(trips)} · {failed} failed"
    )
    for minutes in (15, 5, 1):
        state, health = _busy_state(minutes)
        emulator = CeligoEmulator(
            state, runs=health, page_size=PAGE, error_page_size=PAGE, **UNTHROTTLED
        )
        sent, rounds, outcome = await _triage(emulator, "SKU-BUSY")
        print(
            f"busy flow   every {minutes:>2} min over {EVENT_WINDOW / timedelta(hours=1):.0f} h "
            f"({health[0].runs} runs) · {sent} requests · {rounds} round trips · {outcome}"
        )
    sent, rounds, outcome = await _health(10)
    print(
        f"health      one flow every 10 min, 7 days · {sent} requests · {rounds} round trips · "
        f"{outcome}"
    )


if __name__ == "__main__":
    asyncio.run(main())
