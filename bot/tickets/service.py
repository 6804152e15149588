"""Escalation tickets: decide, dedupe, write through the outbox, and say what happened.

``TicketService`` is what the Slack app and the CLI call:

    open(report, …)         the Open ticket button, and auto-open: a new ticket — or a comment
                            on the one already open for the same fingerprint, or a reopen/link
                            when it was resolved (``recurrence``)
    after_triage(report, …) after every triage: auto-open per ``auto_open``, or add the new
                            evidence to a ticket already open for the same SKU and cause
    resolve(report, …)      Mark resolved: resolve the ticket (``resolve_on_slack``)
    drain()                 retry what is due in the outbox (``oos serve`` runs it every
                            ``outbox.drain_every_seconds``; ``oos tickets retry`` once)

Every action is queued in the outbox first (``bot.tickets.store``) and then worked under the
fingerprint's lease, so exactly one attempt — a coroutine of this process or of another on the
same database — talks to the ticket system for a fingerprint at a time. The lease is the
attempt's (a token of its own), short, and renewed by a heartbeat while the attempt runs: a
worker killed mid-request frees the fingerprint in ``LEASE_SECONDS``.

Before creating, the worker asks the ticket system for the fingerprint (``find``), so a ticket
whose creation answer was lost, or one another installation opened, is found instead of
duplicated. A create whose answer never came is marked before it is sent; until the ticket
system's search has caught up with it (``TicketSystem.search_lag_seconds``), the next attempt
waits rather than create a second ticket, and the ticket it then finds is taken as the one this
action created: recorded, given its attachment, reported as opened (not "triaged again"). Each finished or first-failed
action is reported to ``notify`` (the Slack thread it came from); a retried action is reported
again only when it finally succeeds or fails for good.

Nothing here sleeps: backoff is a time stored on the item, judged by the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, cast

import httpx

from bot.report import Report
from bot.tickets.config import TicketsConfig
from bot.tickets.fingerprint import Fingerprint, fingerprint_of
from bot.tickets.render import (
    Scrubber,
    comment_body,
    report_attachment,
    resolve_note,
    ticket_draft,
)
from bot.tickets.store import OutboxItem, TicketRow, TicketStore
from bot.tree import Owner
from tools.clock import Clock, utc_now
from tools.errors import AdapterError
from tools.retry import RetryPolicy
from tools.ticketing import SYSTEMS
from tools.ticketing.base import Routing, Ticket, TicketSystem

log = logging.getLogger(__name__)

OutcomeKind = Literal[
    "opened", "commented", "reopened", "linked", "resolved", "queued", "failed", "nothing", "busy"
]
Notify = Callable[[OutboxItem, "Outcome"], Awaitable[None]]

# A passing fault: keep the action and try again later. Anything else will fail the same way
# until someone changes the config or the credentials.
TRANSIENT = frozenset({"timeout", "unreachable", "server_error", "rate_limited"})
# A dead worker's lease runs out this fast; a live one renews it every HEARTBEAT_SECONDS.
LEASE_SECONDS = 20.0
HEARTBEAT_SECONDS = 5.0
_IT_OWNERS = frozenset({"erp_admin", "integration_admin"})


@dataclass(frozen=True)
class Outcome:
    """What one outbox action came to, for the thread it came from."""

    kind: OutcomeKind
    fingerprint: str
    ticket: Ticket | None = None
    previous: Ticket | None = None  # the resolved ticket a recurrence was linked to
    slack_group: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    first_failure: bool = False
    replayed: bool = False  # the action was done before (same triage): its recorded outcome

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "ticket": self.ticket.key if self.ticket else None,
                "url": self.ticket.url if self.ticket else None,
                "previous": self.previous.key if self.previous else None,
            }
        )


def should_auto_open(report: Report, policy: str) -> bool:
    """Whether a verdict opens a ticket by itself (DESIGN §2.4 and ``[tickets] auto_open``)."""
    if policy == "never":
        return False
    if policy == "it_owners":
        return (
            report.verdict.cause is not None
            and report.verdict.confidence == "confirmed"
            and report.escalation.owner in _IT_OWNERS
        )
    return report.escalation.auto_escalate


async def _no_notify(item: OutboxItem, outcome: Outcome) -> None:
    return None


class TicketService:
    def __init__(
        self,
        config: TicketsConfig,
        system: TicketSystem,
        store: TicketStore,
        *,
        clock: Clock | None = None,
        jitter: Callable[[], float] = random.random,
        scrubber: Scrubber | None = None,
        worker: str | None = None,
    ) -> None:
        self.config = config
        self.system = system
        self.store = store
        self.notify: Notify = _no_notify
        self._clock = clock or utc_now
        self._jitter = jitter
        self._scrubber = scrubber
        self.worker = worker or uuid.uuid4().hex[:12]

    def now(self) -> datetime:
        """The service's clock: what it decides is due is judged by this time."""
        return self._clock()

    @classmethod
    def from_config(
        cls,
        config: TicketsConfig,
        db_path: Path | str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> TicketService:
        """The configured ticket system on the triage store's database file."""
        make = SYSTEMS[config.system]
        system = make(
            base_url=config.base_url,
            credentials=config.credentials,
            options=config.options,
            transport=transport,
            retry=retry,
        )
        return cls(config, system, TicketStore(db_path), clock=clock)

    async def aclose(self) -> None:
        await self.system.aclose()
        self.store.close()

    # --- what callers ask ------------------------------------------------------------------

    def ticket_for(self, report: Report) -> TicketRow | None:
        fp = fingerprint_of(report)
        return self.store.ticket(fp.value) if fp else None

    async def open(
        self,
        report: Report,
        triage_id: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        thread_url: str | None = None,
    ) -> Outcome:
        """Open (or comment on, reopen, link) the ticket for this report's fingerprint."""
        fp = fingerprint_of(report)
        if fp is None:
            return Outcome("nothing", "", error="in sync: nothing to escalate")
        item = self.store.enqueue(
            fp,
            "open",
            triage_id=triage_id,
            report_json=report.model_dump_json(),
            owner=report.escalation.owner,
            channel=channel,
            thread_ts=thread_ts,
            thread_url=thread_url,
            now=self._clock(),
        )
        return await self._settle(item)

    async def after_triage(
        self,
        report: Report,
        triage_id: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        thread_url: str | None = None,
    ) -> Outcome | None:
        """Auto-open by policy, or add the evidence to the fingerprint's open ticket; None when
        the verdict only offers the button."""
        fp = fingerprint_of(report)
        if fp is None:
            return None
        row = self.store.ticket(fp.value)
        known = row is not None and (row.state == "open" or bool(self.store.pending(fp.value)))
        if not known and not should_auto_open(report, self.config.auto_open):
            return None
        return await self.open(
            report, triage_id, channel=channel, thread_ts=thread_ts, thread_url=thread_url
        )

    async def resolve(
        self,
        report: Report,
        triage_id: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        thread_url: str | None = None,
    ) -> Outcome | None:
        """Mark resolved: resolve the fingerprint's ticket. None when it has none (and is not
        about to): nothing to close. A ticket still queued is cancelled instead of opened."""
        fp = fingerprint_of(report)
        if fp is None or not self.config.resolve_on_slack:
            return None
        row = self.store.ticket(fp.value)
        if row is None:
            return None
        now = self._clock()
        if row.ticket is None:
            if self.store.cancel(fp.value, "open", outcome='{"kind": "nothing"}', now=now):
                log.info("%s resolved before its ticket could be opened: cancelled", fp.value)
            return None
        item = self.store.enqueue(
            fp,
            "resolve",
            triage_id=triage_id,
            report_json=report.model_dump_json(),
            owner=report.escalation.owner,
            channel=channel,
            thread_ts=thread_ts,
            thread_url=thread_url,
            now=now,
        )
        return await self._settle(item)

    async def drain(self) -> list[Outcome]:
        """Work every fingerprint with a due action; the outcomes of what was worked."""
        outcomes: list[Outcome] = []
        for fingerprint in self.store.due_fingerprints(self._clock()):
            outcomes += await self._work(fingerprint)
        return outcomes

    async def run(self, stop: asyncio.Event) -> None:
        """Drain the outbox every ``outbox.drain_every_seconds`` until ``stop`` is set."""
        every = self.config.outbox.drain_every_seconds
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("ticket outbox pass failed; trying again in %.0f s", every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    # --- the worker ------------------------------------------------------------------------

    async def _settle(self, item: OutboxItem) -> Outcome:
        outcomes = {o_item: o for o_item, o in await self._work_with_items(item.fingerprint)}
        if item.id in outcomes:
            return outcomes[item.id]
        current = self.store.item(item.id) or item
        if current.state == "done":
            return _outcome_from_json(current)
        # Another worker holds the lease (it will do this item and tell its thread), or the
        # item waits behind an earlier one that is backing off.
        return Outcome("busy", item.fingerprint, error=current.last_error)

    async def _work(self, fingerprint: str) -> list[Outcome]:
        return [o for _id, o in await self._work_with_items(fingerprint)]

    async def _work_with_items(self, fingerprint: str) -> list[tuple[int, Outcome]]:
        done: list[tuple[int, Outcome]] = []
        for _ in range(100):  # bounded: each pass finishes or defers at least one item
            holder = f"{self.worker}:{uuid.uuid4().hex[:12]}"
            if not self.store.acquire(fingerprint, holder, now=self._clock(), lease=LEASE_SECONDS):
                return done
            heartbeat = asyncio.create_task(self._heartbeat(fingerprint, holder))
            try:
                for item in self.store.pending(fingerprint):
                    if item.next_at > self._clock().timestamp():
                        break
                    outcome = await self._do(item)
                    done.append((item.id, outcome))
                    await self._tell(item, outcome)
                    if outcome.kind == "queued":
                        break  # keep the order: later actions wait behind this one
            finally:
                heartbeat.cancel()
                self.store.release(fingerprint, holder)
            # An action queued while we held the lease found it taken: pick it up now.
            now = self._clock().timestamp()
            if not any(i.next_at <= now for i in self.store.pending(fingerprint)[:1]):
                return done
        return done

    async def _heartbeat(self, fingerprint: str, holder: str) -> None:
        """Keep ``holder``'s lease alive while its attempt runs (cancelled when it ends)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                kept = self.store.renew(fingerprint, holder, now=self._clock(), lease=LEASE_SECONDS)
            except Exception:
                log.exception("could not renew the ticket lease on %s", fingerprint)
                continue
            if not kept:
                log.warning("the ticket lease on %s was lost mid-attempt", fingerprint)
                return

    async def _tell(self, item: OutboxItem, outcome: Outcome) -> None:
        if outcome.kind == "queued" and not outcome.first_failure:
            return  # the thread already knows it is queued
        try:
            await self.notify(item, outcome)
        except Exception:
            log.exception("could not report ticket outcome %s for %s", outcome.kind, item.id)

    async def _do(self, item: OutboxItem) -> Outcome:
        try:
            report = Report.model_validate_json(item.report)
        except ValueError:
            self.store.fail(item.id, error="the queued report could not be read")
            return Outcome("failed", item.fingerprint, error="the queued report could not be read")
        fp = fingerprint_of(report)
        if fp is None or fp.value != item.fingerprint:
            self.store.fail(item.id, error="the queued report has another fingerprint")
            return Outcome("failed", item.fingerprint, error="the queued report does not match")
        try:
            if item.action == "resolve":
                outcome = await self._resolve(item, fp, report)
            else:
                outcome = await self._open(item, fp, report)
        except AdapterError as exc:
            return self._failed(item, exc)
        self.store.finish(item.id, outcome.to_json(), now=self._clock())
        return outcome

    def _failed(self, item: OutboxItem, exc: AdapterError) -> Outcome:
        error = exc.describe()
        if exc.kind not in TRANSIENT:
            self.store.fail(item.id, error=error)
            log.error("ticket action %s for %s failed: %s", item.action, item.fingerprint, error)
            return Outcome("failed", item.fingerprint, error=error)
        policy = self.config.outbox
        wait = min(policy.max_retry_seconds, policy.first_retry_seconds * 2**item.attempts)
        wait *= 0.5 + 0.5 * self._jitter()  # spread instances that failed at the same moment
        retry_at = self._clock() + timedelta(seconds=wait)
        attempts = self.store.defer(item.id, error=error, next_at=retry_at)
        log.warning(
            "ticket action %s for %s queued (attempt %d): %s",
            item.action,
            item.fingerprint,
            attempts,
            error,
        )
        return Outcome(
            "queued", item.fingerprint, error=error, retry_at=retry_at, first_failure=attempts == 1
        )

    def _routing(self, owner: str | None) -> tuple[Routing, str | None]:
        # Inconclusive verdicts carry the integration admin as owner; an owner the config does
        # not know (a newer tree) goes there too rather than nowhere.
        route = (
            self.config.routes.get(cast(Owner, owner)) or self.config.routes["integration_admin"]
        )
        routing = Routing(
            project=route.project,
            component=route.component,
            assignee=route.assignee,
            assignment_group=route.assignment_group,
        )
        return routing, route.slack_group

    def _scrub(self) -> Scrubber:
        # Built per use: the redactor reads the secrets in the environment as it is now.
        return self._scrubber or Scrubber()

    async def _current(self, row: TicketRow | None, fp: Fingerprint) -> Ticket | None:
        """The fingerprint's ticket as the system shows it now: by id when we know it (no
        search-index lag), else by searching for the fingerprint."""
        known = row.ticket if row is not None else None
        if known is not None:
            current = await self.system.get(known.id)
            if current is not None:
                return current
        return await self.system.find(fp.value, known=[known.id] if known else [])

    async def _lost_create(
        self, item: OutboxItem, fp: Fingerprint, row: TicketRow | None
    ) -> Ticket | None:
        """After a create whose answer never came: the ticket it made, found by fingerprint;
        None when the search says there is none and has had time to catch up. Raises a passing
        fault (the action waits) while the search may still be behind."""
        before = row.ticket if row is not None else None
        found = await self.system.find(fp.value, known=[before.id] if before else [])
        if (
            found is not None
            and found.state == "open"
            and (before is None or found.id != before.id)
        ):
            return found
        sent = item.create_sent_at or 0.0
        settled = sent + self.system.search_lag_seconds
        if self._clock().timestamp() < settled:
            raise AdapterError(
                self.system.system,
                "timeout",
                "a ticket create got no answer and the ticket is not found yet; looking again "
                "before creating another (the search may lag behind new tickets)",
            )
        return None

    async def _open(self, item: OutboxItem, fp: Fingerprint, report: Report) -> Outcome:
        routing, group = self._routing(item.owner)
        scrub = self._scrub()
        row = self.store.ticket(fp.value)
        now = self._clock
        if item.step == "attach" and row is not None and row.ticket is not None:
            # Created on an earlier attempt; only the attachment is missing.
            await self.system.attach(row.ticket, report_attachment(report, item.triage_id, scrub))
            return Outcome("opened", fp.value, row.ticket, slack_group=group)

        previous = row.ticket if row is not None and row.ticket is not None else None
        if item.step == "creating":
            made = await self._lost_create(item, fp, row)
            if made is not None:
                # Ours: this action sent the create and holds the lease. Record it, attach the
                # report, and say "opened" — never "triaged again" on our own ticket.
                self.store.record_ticket(fp.value, made, now=now())
                self.store.set_step(item.id, "attach")
                await self.system.attach(made, report_attachment(report, item.triage_id, scrub))
                linked = previous is not None and previous.state == "resolved"
                return Outcome(
                    "linked" if linked else "opened",
                    fp.value,
                    made,
                    previous=previous if linked else None,
                    slack_group=group,
                )

        current = await self._current(row, fp)
        if current is not None and current.state == "open":
            self.store.record_ticket(fp.value, current, now=now())
            body = comment_body(
                report,
                fp,
                triage_id=item.triage_id,
                thread_url=item.thread_url,
                reopened=False,
            )
            await self.system.comment(current, scrub.doc(body))
            return Outcome("commented", fp.value, current, slack_group=group)
        if (
            current is not None
            and self.config.recurrence == "reopen"
            and self.system.can_reopen(current)
        ):
            note = comment_body(
                report, fp, triage_id=item.triage_id, thread_url=item.thread_url, reopened=True
            )
            reopened = await self.system.reopen(current, scrub.doc(note))
            self.store.record_ticket(fp.value, reopened, now=now())
            return Outcome("reopened", fp.value, reopened, slack_group=group)

        draft = ticket_draft(
            report,
            fp,
            routing,
            triage_id=item.triage_id,
            thread_url=item.thread_url,
            scrubber=scrub,
            recurrence_of=current.key if current is not None else None,
        )
        self.store.mark_create_sent(item.id, now=now())
        created = await self.system.create(draft)
        # Recorded before the attachment goes: a failure from here on retries the attachment
        # only, never the creation.
        self.store.record_ticket(fp.value, created, now=now())
        self.store.set_step(item.id, "attach")
        for attachment in draft.attachments:
            await self.system.attach(created, attachment)
        kind: OutcomeKind = "linked" if current is not None else "opened"
        return Outcome(kind, fp.value, created, previous=current, slack_group=group)

    async def _resolve(self, item: OutboxItem, fp: Fingerprint, report: Report) -> Outcome:
        row = self.store.ticket(fp.value)
        current = await self._current(row, fp)
        if current is None:
            return Outcome("nothing", fp.value)
        if current.state == "resolved":
            self.store.record_ticket(fp.value, current, now=self._clock())
            return Outcome("resolved", fp.value, current)
        note = resolve_note(triage_id=item.triage_id, thread_url=item.thread_url)
        resolved = await self.system.resolve(current, self._scrub().doc(note))
        self.store.record_ticket(fp.value, resolved, now=self._clock())
        return Outcome("resolved", fp.value, resolved)


def _outcome_from_json(item: OutboxItem) -> Outcome:
    try:
        data = json.loads(item.outcome or "{}")
    except ValueError:
        data = {}
    kind = cast(OutcomeKind, data.get("kind") or "nothing")
    ticket = None
    if data.get("ticket") and data.get("url"):
        ticket = Ticket("", "", str(data["ticket"]), str(data["url"]), "open", "")
    return Outcome(kind, item.fingerprint, ticket, replayed=True)
