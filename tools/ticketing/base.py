"""What every ticket system adapter speaks: a vendor-neutral document, a draft, a ticket, and the
``TicketSystem`` protocol.

The application (``bot.tickets``) writes a ticket once, as a ``Doc`` — headings, paragraphs and
bullet lists of text runs that may be bold, code or a link — and each adapter turns it into its
own format: Atlassian Document Format for Jira, plain text for a ServiceNow journal. Nothing
outside ``tools/ticketing`` sees a vendor's field names.

Dedupe lives on the ticket as well as in our store: every ticket carries its ``fingerprint``
(a Jira label, a ServiceNow ``correlation_id``), and ``find`` looks it up, so a ticket created
by another instance, before a restart, or by a request whose answer was lost is found again
instead of opened twice.

Writes are never retried blindly by the HTTP layer (only reads are); a write that fails raises
``tools.errors.AdapterError`` and the caller's outbox decides when to try again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

# --- the document ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A piece of text; at most one of ``bold``/``code``, optionally a link."""

    text: str
    bold: bool = False
    code: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 3


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Run, ...], ...]


Block = Heading | Paragraph | Bullets


@dataclass(frozen=True)
class Doc:
    blocks: tuple[Block, ...]

    def plain(self) -> str:
        """The document as plain text (ServiceNow fields, logs, tests)."""
        out: list[str] = []
        for block in self.blocks:
            if isinstance(block, Heading):
                out += ["", block.text.upper() if block.level <= 2 else block.text, ""]
            elif isinstance(block, Paragraph):
                out.append(runs_text(block.runs))
            else:
                out += [f"- {runs_text(item)}" for item in block.items]
        return "\n".join(out).strip() + "\n"


def runs_text(runs: tuple[Run, ...]) -> str:
    """Runs as plain text; a link shows its address after its words."""
    parts = []
    for run in runs:
        text = run.text
        if run.link and run.link != run.text:
            text = f"{text} ({run.link})"
        parts.append(text)
    return "".join(parts)


def para(*runs: Run | str) -> Paragraph:
    return Paragraph(tuple(Run(r) if isinstance(r, str) else r for r in runs))


# --- drafts and tickets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Where a ticket goes in the ticket system (each adapter reads the fields it knows)."""

    project: str | None = None  # Jira project key
    component: str | None = None  # Jira component name
    assignee: str | None = None  # Jira account id
    assignment_group: str | None = None  # ServiceNow group (sys_id or name)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class TicketDraft:
    """A ticket to open: one line, a body, its fingerprint, where it goes, files to attach."""

    summary: str
    body: Doc
    fingerprint: str
    routing: Routing
    labels: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


TicketState = Literal["open", "resolved"]


@dataclass(frozen=True)
class Ticket:
    """A ticket as the system shows it. ``id`` is what the API addresses (Jira key, ServiceNow
    sys_id); ``key`` what people read (``OPS-12``, ``INC0010001``)."""

    system: str
    id: str
    key: str
    url: str
    state: TicketState
    status: str  # the system's own status name, for people


# --- the protocol ------------------------------------------------------------------------------


@runtime_checkable
class TicketSystem(Protocol):
    system: str
    # How long a just-created ticket may stay invisible to ``find`` (0: search is consistent).
    search_lag_seconds: float

    async def find(self, fingerprint: str, *, known: Sequence[str] = ()) -> Ticket | None:
        """The newest ticket carrying ``fingerprint`` (open or resolved), or None. ``known``:
        ids of tickets already known for it, which a lagging search must still see. A read:
        retried by the HTTP layer."""
        ...

    async def get(self, ticket_id: str) -> Ticket | None:
        """The ticket as it is now (its state may have changed in the system), or None when it
        no longer exists. A read: retried."""
        ...

    async def create(self, draft: TicketDraft) -> Ticket:
        """Open a ticket (without its attachments: ``attach`` sends those). Not retried."""
        ...

    async def attach(self, ticket: Ticket, attachment: Attachment) -> None:
        """Attach a file to the ticket."""
        ...

    async def comment(self, ticket: Ticket, body: Doc) -> None:
        """Add a comment (Jira) or work note (ServiceNow)."""
        ...

    async def resolve(self, ticket: Ticket, note: Doc) -> Ticket:
        """Move the ticket to its resolved state, with ``note`` saying why."""
        ...

    def can_reopen(self, ticket: Ticket) -> bool:
        """Whether the system's state model lets this resolved ticket be reopened (a closed
        ServiceNow incident cannot be: a recurrence then gets a new ticket naming it)."""
        ...

    async def reopen(self, ticket: Ticket, note: Doc) -> Ticket:
        """Move a resolved ticket back to an open state, with ``note`` saying why."""
        ...

    async def aclose(self) -> None: ...


# --- field limits ------------------------------------------------------------------------------


def cut_note(system: str, limit: int) -> str:
    return (
        f"This text was cut to fit {system}'s limit of {limit:,} characters per field; "
        "the full report is attached as JSON."
    )


def fit(doc: Doc, limit: int, size: Callable[[Doc], int], note: str) -> Doc:
    """``doc`` when ``size(doc)`` is within ``limit``; else as much of its text as fits, in
    order, after a first paragraph saying so (``note``)."""
    if size(doc) <= limit:
        return doc
    head = Paragraph((Run(note, bold=True),))
    total = sum(len(t) for t in _texts(doc))
    low, high = 0, total
    while low < high:  # the most characters of text that still fit, by bisection
        mid = (low + high + 1) // 2
        if size(Doc((head, *_prefix(doc, mid).blocks))) <= limit:
            low = mid
        else:
            high = mid - 1
    return Doc((head, *_prefix(doc, low).blocks))


def _texts(doc: Doc) -> list[str]:
    out: list[str] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append(block.text)
        elif isinstance(block, Paragraph):
            out += [r.text for r in block.runs]
        else:
            out += [r.text for item in block.items for r in item]
    return out


def _prefix(doc: Doc, budget: int) -> Doc:
    """The first ``budget`` characters of ``doc``'s text, its structure kept; a cut text ends
    with "…"."""
    left = budget

    def take(text: str) -> str | None:
        nonlocal left
        if left <= 0:
            return None
        if len(text) <= left:
            left -= len(text)
            return text
        cut = text[: max(left - 1, 0)] + "…"
        left = 0
        return cut

    def runs(items: tuple[Run, ...]) -> tuple[Run, ...]:
        kept: list[Run] = []
        for run in items:
            text = take(run.text)
            if text is None:
                break
            kept.append(Run(text, run.bold, run.code, run.link if text == run.text else None))
        return tuple(kept)

    blocks: list[Block] = []
    for block in doc.blocks:
        if left <= 0:
            break
        if isinstance(block, Heading):
            text = take(block.text)
            if text is not None:
                blocks.append(Heading(text, block.level))
        elif isinstance(block, Paragraph):
            blocks.append(Paragraph(runs(block.runs)))
        else:
            items = []
            for item in block.items:
                if left <= 0:
                    break
                items.append(runs(item))
            blocks.append(Bullets(tuple(items)))
    return Doc(tuple(blocks))
