"""Escalation tickets over the Jira and ServiceNow emulators: requests and time per action, an
outbox drained after an outage, and a burst of concurrent triages of one SKU.

    .venv/bin/python bench/tickets_outbox.py [--latency 0.05] [--queued 100] [--burst 10]

Every emulated request waits ``--latency`` seconds (a ticket system's round trip). Prints, per
system: requests and median wall time for opening a ticket and for commenting on an open one;
the drain of ``--queued`` tickets queued during an outage (tickets created, requests, tickets
per second); and ``--burst`` concurrent triages of one SKU in one service, as ``oos serve``
runs them, then spread over 4 services on one database file, as 4 server processes would be
(tickets created — the target is 1 — comments, and the time until every triage is told).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine import triage
from bot.report import Report
from bot.tickets.config import OWNERS, TicketsConfig
from bot.tickets.service import Outcome, TicketService
from bot.tickets.store import TicketStore
from tools.retry import RetryPolicy
from tools.sandbox.emulators import jira as jira_emu
from tools.sandbox.emulators import servicenow as sn_emu
from tools.sandbox.memory import memory_stack
from tools.sandbox.scenario import load_library
from tools.ticketing import SYSTEMS

SKU = "SKU-4101"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def config(system: str) -> TicketsConfig:
    if system == "jira":
        return TicketsConfig.model_validate(
            {
                "system": "jira",
                "base_url": jira_emu.DEFAULT_SITE,
                "credentials": {"email": "BENCH_JIRA_EMAIL", "api_token": "BENCH_JIRA_TOKEN"},
                "routes": {o: {"project": "OPS"} for o in OWNERS},
            }
        )
    return TicketsConfig.model_validate(
        {
            "system": "servicenow",
            "base_url": sn_emu.DEFAULT_INSTANCE,
            "credentials": {"username": "BENCH_SN_USER", "password": "BENCH_SN_PASSWORD"},
            "routes": {o: {"assignment_group": "Integration Support"} for o in OWNERS},
        }
    )


def emulator(system: str, latency: float) -> jira_emu.JiraEmulator | sn_emu.ServiceNowEmulator:
    em: jira_emu.JiraEmulator | sn_emu.ServiceNowEmulator
    em = jira_emu.JiraEmulator() if system == "jira" else sn_emu.ServiceNowEmulator()
    em.faults.latency = latency
    return em


def service(
    system: str, em: jira_emu.JiraEmulator | sn_emu.ServiceNowEmulator, db: Path, clock: Clock
) -> TicketService:
    cfg = config(system)
    adapter = SYSTEMS[system](
        base_url=cfg.base_url,
        credentials=cfg.credentials,
        transport=em,
        retry=RetryPolicy.off(),
    )
    return TicketService(cfg, adapter, TicketStore(db), clock=clock)


async def one(system: str, latency: float, work: Path, report: Report) -> list[str]:
    lines = []
    em = emulator(system, latency)
    svc = service(system, em, work / f"{system}-one.db", Clock())
    opens, comments = [], []
    open_requests = comment_requests = 0
    for n in range(5):
        r = report.model_copy(update={"sku": f"{SKU}-{n}"})
        before = len(em.requests)
        started = time.perf_counter()
        await svc.open(r, f"open-{n}")
        opens.append(time.perf_counter() - started)
        open_requests = len(em.requests) - before
        before = len(em.requests)
        started = time.perf_counter()
        await svc.open(r, f"again-{n}")
        comments.append(time.perf_counter() - started)
        comment_requests = len(em.requests) - before
    await svc.aclose()
    lines.append(
        f"  open a ticket      {open_requests} requests  median {statistics.median(opens) * 1000:7.1f} ms"
    )
    lines.append(
        f"  comment on it      {comment_requests} requests  median {statistics.median(comments) * 1000:7.1f} ms"
    )
    return lines


async def outage(system: str, queued: int, work: Path, report: Report) -> list[str]:
    em = emulator(system, 0.0)
    clock = Clock()
    svc = service(system, em, work / f"{system}-outage.db", clock)
    em.outage = 503
    for n in range(queued):
        await svc.open(report.model_copy(update={"sku": f"SKU-B{n:05d}"}), f"t{n}")
    em.outage = None
    clock.now += timedelta(hours=2)
    before = len(em.requests)
    started = time.perf_counter()
    outcomes = await svc.drain()
    took = time.perf_counter() - started
    created = len(em.issues) if isinstance(em, jira_emu.JiraEmulator) else len(em.incidents)
    left = len(svc.store.pending())
    await svc.aclose()
    return [
        f"  outage drain       {queued} queued → {created} tickets, {left} left, "
        f"{len(em.requests) - before} requests, {sum(o.kind == 'opened' for o in outcomes) / took:7.1f} tickets/s"
    ]


async def burst(
    system: str, n: int, latency: float, work: Path, report: Report, *, processes: int
) -> list[str]:
    em = emulator(system, latency)
    clock = Clock()
    db = work / f"{system}-burst-{processes}.db"
    services = [service(system, em, db, clock) for _ in range(processes)]
    told: list[str] = []

    async def tell(_item: object, outcome: Outcome) -> None:
        told.append(outcome.kind)

    for s in services:
        s.notify = tell
    started = time.perf_counter()
    await asyncio.gather(*(services[i % processes].open(report, f"t{i}") for i in range(n)))
    took = time.perf_counter() - started
    if isinstance(em, jira_emu.JiraEmulator):
        tickets = len(em.issues)
        comments = sum(len(i["comments"]) for i in em.issues.values())
    else:
        tickets = len(em.incidents)
        comments = sum(len(v) for v in em.journal.values())
    for s in services:
        await s.aclose()
    where = "one service" if processes == 1 else f"{processes} services, one db"
    return [
        f"  burst of {n:<3} ({where:<18}) {tickets} ticket(s), {comments} comment(s), "
        f"{len(told)} told, all done in {took * 1000:7.1f} ms"
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--queued", type=int, default=100)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the outage's 503s are the point, not news
    os.environ.update(
        BENCH_JIRA_EMAIL=jira_emu.DEFAULT_EMAIL,
        BENCH_JIRA_TOKEN=jira_emu.DEFAULT_TOKEN,
        BENCH_SN_USER=sn_emu.DEFAULT_USER,
        BENCH_SN_PASSWORD=sn_emu.DEFAULT_PASSWORD,
    )
    scenario = load_library()[SKU]
    report = await triage(SKU, memory_stack(scenario), now=scenario.clock)
    print(f"ticket actions over the emulators, {args.latency * 1000:.0f} ms per request")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for system in ("jira", "servicenow"):
            print(system)
            for line in [
                *await one(system, args.latency, work, report),
                *await outage(system, args.queued, work, report),
                *await burst(system, args.burst, args.latency, work, report, processes=1),
                *await burst(system, args.burst, args.latency, work, report, processes=4),
            ]:
                print(line)


if __name__ == "__main__":
    asyncio.run(main())
