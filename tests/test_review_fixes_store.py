"""Review R2 on the handoff store: the audit log forgets a person's attempts and has a retention period."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FixedClock
from bot.handoff.models import Actor
from bot.handoff.settings import DEFAULT_AUDIT_RETENTION_DAYS, HandoffSettings, StaffRouting
from bot.handoff.store import HandoffStore
from bot.store.db import Store

STAFF_CHAT = -1001000000001


def handoff_on(store: Store, clock: FixedClock) -> HandoffStore:
    return HandoffStore(store, clock, routing=StaffRouting(STAFF_CHAT), reference=lambda user: "REF")


def test_forget_deletes_the_persons_forged_attempts_but_not_staff_actions(
    store: Store, clock: FixedClock
) -> None:
    handoff = handoff_on(store, clock)
    ticket, _ = handoff.open_ticket("tg:7001", "live", "en")
    handoff.record_forged(7001, "claim", ticket.id, "button in other chat")  # the person forged a button
    handoff.record_forged(8002, "claim", ticket.id, "button in other chat")  # someone else
    handoff.claim(ticket.id, Actor(501, "Sara"))
    store.forget_user("tg:7001")
    assert [(e.action, e.staff_id) for e in handoff.audit()] == [("forged_attempt", 8002), ("claim", 501)]


def test_purge_deletes_audit_rows_past_their_retention(store: Store, clock: FixedClock) -> None:
    handoff = handoff_on(store, clock)
    handoff.record_forged(8002, "queue", None, "other group")
    clock.advance(timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS - 1))
    handoff.record_forged(8003, "queue", None, "other group")
    assert handoff.purge().audit_rows == 0
    clock.advance(timedelta(days=2))
    counts = handoff.purge(audit_retention_days=DEFAULT_AUDIT_RETENTION_DAYS)
    assert counts.audit_rows == 1 and [e.staff_id for e in handoff.audit()] == [8003]


def test_audit_retention_is_a_setting() -> None:
    assert HandoffSettings.from_env({}).audit_retention_days == 365
    assert HandoffSettings.from_env({"AUDIT_RETENTION_DAYS": "90"}).audit_retention_days == 90
