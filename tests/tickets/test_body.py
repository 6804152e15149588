"""The ticket is written for its reader, and carries no secret and no personal data."""

from __future__ import annotations

import json

import pytest

from bot.report import EvidenceItem
from bot.tickets.fingerprint import fingerprint_of
from bot.tickets.render import Scrubber, summary_line, ticket_body
from bot.tree import LAYER_NAMES
from tests.tickets.conftest import World, report_for
from tools.redact import Redactor

THREAD = "https://fake-workspace.slack.com/archives/C1/p1700000000000100"


@pytest.mark.parametrize("sku", ["SKU-4101", "SKU-3101", "SKU-7102", "SKU-9101"])
def test_the_body_has_everything_it_promises(sku: str) -> None:
    report = report_for(sku)
    fp = fingerprint_of(report)
    assert fp is not None
    text = ticket_body(report, fp, triage_id="t1", thread_url=THREAD).plain()

    # summary line: SKU, cause code, layer
    line = summary_line(report, fp)
    assert report.sku in line and fp.cause in line and len(line) <= 160
    if report.verdict.layer is not None:
        assert LAYER_NAMES[report.verdict.layer] in line
    # the six evidence items, each with its source and the time it was read
    assert len(report.evidence) == 6
    for item in report.evidence:
        assert f"{item.id} · {item.title}" in text
        assert item.statement in text
        assert f"source: {item.source}" in text
        assert (item.read_at.isoformat() if item.read_at else "not read") in text
    # the checks that passed: what IT need not re-check
    passed = [c for c in report.checks if c.status == "pass"]
    assert "Checks that passed" in text
    for check in passed:
        assert check.id in text
    # the next step, the link back to the thread, the fingerprint
    if report.verdict.next_step:
        assert report.verdict.next_step in text
    assert THREAD in text
    assert fp.value in text


def _planted(report_sku: str) -> tuple[object, dict[str, str]]:
    """A report whose vendor data carries a secret, a credential shape and personal data."""
    canary = {
        "secret": "canary-Secret-7f3a9c1e5b",
        "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9.canarypayload.sig",
        "email": "jane.doe@acme-retail.example",
        "phone": "+44 20 7946 0958",
    }
    report = report_for(report_sku)
    leaky = EvidenceItem(
        id="E6",
        title="Integration / credential changes (72 h)",
        statement=(
            f"token rotated by {canary['email']} (call {canary['phone']}); new value "
            f"{canary['secret']}; header Authorization: {canary['bearer']}"
        ),
        found=True,
        source=f"celigo audit · actor {canary['email']}",
        read_at=report.clock,
    )
    facts = [
        *report.facts,
        report.facts[0].model_copy(
            update={
                "id": "celigo.audit",
                "value": {"byUser": {"email": canary["email"]}, "password": canary["secret"]},
            }
        ),
    ]
    planted = report.model_copy(
        update={
            "evidence": [*report.evidence[:5], leaky],
            "facts": facts,
            "verdict": report.verdict.model_copy(
                update={"summary": f"{report.verdict.summary} Contact {canary['email']}."}
            ),
        }
    )
    return planted, canary


async def test_canary_no_secret_or_personal_data_reaches_the_ticket_system(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, canary = _planted("SKU-4101")
    monkeypatch.setenv("OOS_CANARY_API_TOKEN", canary["secret"])
    # The canary is really in what the service is given: the test could fail.
    assert canary["secret"] in report.model_dump_json()  # type: ignore[attr-defined]
    service = world.service()

    await service.open(report, "t1", thread_url=THREAD)  # type: ignore[arg-type]
    await service.open(report, "t2", thread_url=THREAD)  # type: ignore[arg-type]  # a comment
    await service.resolve(report, "t2")  # type: ignore[arg-type]

    sent = b"\n".join(r.body + json.dumps(r.query).encode() for r in world.emulator.requests)
    assert len(world.emulator.requests) >= 5
    for name, value in canary.items():
        for form in {value, value.split(" ", 1)[-1], json.dumps(value)[1:-1]}:
            assert form.encode() not in sent, f"the {name} canary reached the ticket system"
    # …while the evidence itself is still there, masked.
    assert b"[email removed]" in sent and b"***" in sent
    # and the attachment is still the report, as valid JSON
    key = service.ticket_for(report).ticket_key  # type: ignore[arg-type, union-attr]
    (attached,) = world.attachments(str(key))
    assert json.loads(attached)["sku"] == "SKU-4101"


def test_the_scrubber_leaves_ordinary_evidence_alone() -> None:
    scrub = Scrubber(Redactor())
    text = (
        "SKU-4101 quantity 12 → 0 at 2026-11-30T08:00:00+00:00; flow f-inv-01 suspended; "
        "endpoint https://7730114.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=1502"
    )
    assert scrub.text(text) == text
    assert scrub.text("call (555) 123-4567 or ops@example.com") == (
        "call [phone removed] or [email removed]"
    )
