"""The handoff store on SQLite: tickets, claims, topics, relay pairs, audit, forget and retention."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.clock import FixedClock
from bot.handoff.models import (
    Actor,
    AliasTaken,
    AlreadyClaimed,
    NotHolder,
    TicketNotFound,
    TicketResolved,
)
from bot.handoff.settings import StaffRouting
from bot.handoff.store import HandoffStore
from bot.store.db import Store

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # a Monday, 10:30 in Brussels
STAFF_CHAT = -1001234567890
KEY = "a-test-key-of-enough-length"
MARYAM = Actor(501, "Maryam")
JONAS = Actor(502, "Jonas")


def reference(user_id: str) -> str:
    """The booking's keyed pseudonym, as the front-end wires it."""
    from bot.booking.staff import pseudonym

    return pseudonym(user_id, KEY)


def handoff_on(store: Store, clock: FixedClock) -> HandoffStore:
    return HandoffStore(store, clock, routing=StaffRouting(STAFF_CHAT), reference=reference)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def handoff(store: Store, clock: FixedClock) -> HandoffStore:
    return handoff_on(store, clock)


# -- tickets ---------------------------------------------------------------------------------


def test_open_ticket_creates_a_waiting_ticket_with_a_pseudonymous_reference(handoff: HandoffStore) -> None:
    ticket, created = handoff.open_ticket("1001", "live", "fa", ["how_to_apply", "documents"])
    assert created
    assert (ticket.state, ticket.kind, ticket.language, ticket.chat_id) == (
        "waiting",
        "live",
        "fa",
        STAFF_CHAT,
    )
    assert ticket.asked_topics == ("how_to_apply", "documents")
    assert ticket.reference == reference("1001") and "1001" not in ticket.reference
    assert ticket.opened_at == ticket.waiting_since == START
    assert ticket.relays_person


def test_open_ticket_refuses_message_text_as_a_topic(handoff: HandoffStore) -> None:
    with pytest.raises(ValueError, match="topic name"):
        handoff.open_ticket("1001", "live", "fa", ["I need help with my papers"])


def test_open_ticket_returns_the_open_one_and_attaches_a_booking(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    live, _ = handoff.open_ticket("1001", "live", "fa", ["how_to_apply"])
    clock.advance(timedelta(minutes=3))
    again, created = handoff.open_ticket("1001", "meeting", "fa", ["family"], booking_id=42)
    assert not created
    assert again.id == live.id
    assert (again.kind, again.booking_id) == ("live", 42)  # a live conversation stays live
    assert again.asked_topics == ("how_to_apply", "family")
    assert again.waiting_since == START  # attaching a booking does not send them to the back of the queue


def test_a_live_request_turns_a_meeting_ticket_live_and_restarts_its_wait(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    meeting, _ = handoff.open_ticket("1001", "meeting", "fa", booking_id=42)
    assert not meeting.relays_person  # a meeting ticket does not take the chat over until claimed
    clock.advance(timedelta(hours=2))
    live, created = handoff.open_ticket("1001", "live", "fa")
    assert not created
    assert (live.id, live.kind, live.booking_id) == (meeting.id, "live", 42)
    assert live.waiting_since == START + timedelta(hours=2)
    assert live.relays_person


def test_the_database_allows_one_open_ticket_per_person(handoff: HandoffStore) -> None:
    handoff.open_ticket("1001", "live", "fa")
    with pytest.raises(sqlite3.IntegrityError):
        handoff.db.execute(
            "INSERT INTO tickets (user_id, reference, kind, language, opened_at, waiting_since)"
            " VALUES ('1001', 'X', 'callback', 'fa', 'now', 'now')"
        )


def test_a_new_ticket_opens_once_the_previous_one_is_resolved(handoff: HandoffStore) -> None:
    first, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.resolve(first.id, MARYAM)
    second, created = handoff.open_ticket("1001", "callback", "fa", callback_id=7)
    assert created and second.id != first.id
    assert handoff.open_ticket_of("1001") == second


def test_claim_gives_the_ticket_to_one_counsellor_and_records_the_wait(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    clock.advance(timedelta(minutes=4, seconds=30))
    claimed = handoff.claim(ticket.id, MARYAM)
    assert (claimed.state, claimed.claimed_by, claimed.claimed_alias) == ("claimed", 501, "Maryam")
    assert claimed.wait_seconds == 270
    assert claimed.first_claimed_at == claimed.claimed_at == clock.now()


def test_a_second_claim_is_refused_naming_who_holds_it(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.claim(ticket.id, MARYAM)
    with pytest.raises(AlreadyClaimed) as refused:
        handoff.claim(ticket.id, JONAS)
    assert (refused.value.holder_alias, refused.value.holder_id, refused.value.reason) == (
        "Maryam",
        501,
        "taken",
    )


def test_claiming_twice_by_the_holder_changes_nothing(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    first = handoff.claim(ticket.id, MARYAM)
    assert handoff.claim(ticket.id, MARYAM) == first
    assert [entry.action for entry in handoff.audit()] == ["claim"]


def test_claim_on_a_resolved_ticket_is_refused(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.resolve(ticket.id, JONAS)
    with pytest.raises(TicketResolved):
        handoff.claim(ticket.id, MARYAM)
    assert handoff.ticket(ticket.id).claimed_alias is None


def test_claim_on_an_unknown_ticket_is_refused(handoff: HandoffStore) -> None:
    with pytest.raises(TicketNotFound):
        handoff.claim(999, MARYAM)


def test_release_only_by_the_holder_puts_the_ticket_back_at_the_end_of_the_queue(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.claim(ticket.id, MARYAM)
    with pytest.raises(NotHolder) as refused:
        handoff.release(ticket.id, JONAS)
    assert refused.value.holder_alias == "Maryam"
    clock.advance(timedelta(minutes=5))
    released = handoff.release(ticket.id, MARYAM)
    assert (released.state, released.claimed_by, released.claimed_alias) == ("waiting", None, None)
    assert released.waiting_since == clock.now()
    assert released.wait_seconds == 0  # the first wait stays on record for the median


def test_release_of_a_waiting_ticket_is_refused(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    with pytest.raises(NotHolder):
        handoff.release(ticket.id, MARYAM)


def test_resolve_closes_a_waiting_or_claimed_ticket_once(handoff: HandoffStore) -> None:
    waiting, _ = handoff.open_ticket("1001", "live", "fa")
    claimed, _ = handoff.open_ticket("1002", "live", "fr")
    handoff.claim(claimed.id, MARYAM)
    for ticket in (waiting, claimed):
        resolved = handoff.resolve(ticket.id, JONAS)
        assert (resolved.state, resolved.ended_by) == ("resolved", "staff")
        assert not resolved.relays_person
        with pytest.raises(TicketResolved):
            handoff.resolve(ticket.id, JONAS)
    assert handoff.ticket(claimed.id).claimed_alias == "Maryam"  # the last holder stays on record


def test_the_person_ending_closes_their_ticket_without_an_audit_row(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    ended = handoff.end_by_person("1001")
    assert ended is not None and (ended.id, ended.state, ended.ended_by) == (ticket.id, "resolved", "person")
    assert handoff.end_by_person("1001") is None
    assert handoff.audit() == []


def test_a_person_blocking_the_assistant_marks_their_open_ticket(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    blocked = handoff.mark_blocked("1001")
    assert blocked is not None and blocked.id == ticket.id and blocked.blocked
    assert handoff.mark_blocked("2002") is None


def test_every_staff_action_is_audited_in_the_same_transaction_without_text(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa", ["how_to_apply"])
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    handoff.claim(ticket.id, MARYAM)
    handoff.record_answer(MARYAM, ticket.id, "how_to_apply")
    handoff.release(ticket.id, MARYAM)
    handoff.claim(ticket.id, JONAS)
    handoff.resolve(ticket.id, JONAS)
    handoff.set_duty(501, "Maryam", False)
    handoff.record_forged(777, "claim", ticket.id, "button")
    entries = handoff.audit()
    assert [(e.action, e.alias, e.ticket_id) for e in entries] == [
        ("duty_on", "Maryam", None),
        ("claim", "Maryam", ticket.id),
        ("answer", "Maryam", ticket.id),
        ("release", "Maryam", ticket.id),
        ("claim", "Jonas", ticket.id),
        ("resolve", "Jonas", ticket.id),
        ("duty_off", "Maryam", None),
        ("forged_attempt", None, ticket.id),
    ]
    assert entries[2].detail == "how_to_apply"
    assert (entries[-1].staff_id, entries[-1].detail) == (777, "claim in button")
    assert all(entry.at == START for entry in entries)


def test_a_refused_action_writes_no_audit_row(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.claim(ticket.id, MARYAM)
    with pytest.raises(AlreadyClaimed):
        handoff.claim(ticket.id, JONAS)
    with pytest.raises(NotHolder):
        handoff.release(ticket.id, JONAS)
    assert [entry.action for entry in handoff.audit()] == ["claim"]


def test_a_command_line_actor_acts_as_the_counsellor_with_that_alias(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.claim(ticket.id, MARYAM)
    operator = handoff.cli_actor("maryam")
    assert (operator.staff_id, operator.audit_name) == (501, "cli:Maryam")
    handoff.release(ticket.id, operator)
    stranger = handoff.cli_actor("ops")
    assert (stranger.staff_id, stranger.audit_name) == (None, "cli:ops")
    handoff.claim(ticket.id, stranger)
    with pytest.raises(NotHolder):
        handoff.release(ticket.id, handoff.cli_actor("someone-else"))
    handoff.release(ticket.id, handoff.cli_actor("OPS"))
    assert [entry.alias for entry in handoff.audit()] == ["Maryam", "cli:Maryam", "cli:ops", "cli:OPS"]


def test_aliases_are_unique_and_kept(handoff: HandoffStore) -> None:
    handoff.set_alias(501, "Maryam")
    with pytest.raises(AliasTaken):
        handoff.set_alias(502, "maryam")
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    claimed = handoff.claim(ticket.id, Actor(501, "Someone Else"))
    assert claimed.claimed_alias == "Maryam"  # a known counsellor signs with the alias on record


# -- parallel claims on a real file ------------------------------------------------------------


def test_parallel_claims_on_a_real_file_have_exactly_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "assistant.db"
    clock = FixedClock(START)
    setup = Store.open(path, clock=clock)
    ticket, _ = handoff_on(setup, clock).open_ticket("1001", "live", "fa")
    setup.close()
    counsellors = 8
    barrier = threading.Barrier(counsellors)
    outcomes: dict[int, str] = {}

    def press_claim(staff_id: int) -> None:
        store = Store.open(path, clock=clock)  # each counsellor's own connection
        handoff = handoff_on(store, clock)
        barrier.wait()
        try:
            handoff.claim(ticket.id, Actor(staff_id, f"counsellor{staff_id}"))
            outcomes[staff_id] = "won"
        except AlreadyClaimed as refused:
            outcomes[staff_id] = refused.holder_alias
        finally:
            store.close()

    threads = [threading.Thread(target=press_claim, args=(600 + n,)) for n in range(counsellors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [staff_id for staff_id, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == counsellors and len(winners) == 1
    winner_alias = f"counsellor{winners[0]}"
    assert all(outcome == winner_alias for staff_id, outcome in outcomes.items() if staff_id != winners[0])
    check = Store.open(path, clock=clock)
    stored = handoff_on(check, clock)
    assert stored.ticket(ticket.id).claimed_alias == winner_alias
    assert [entry.action for entry in stored.audit()] == ["claim"]
    check.close()


# -- topics ----------------------------------------------------------------------------------


def test_one_topic_per_person_per_group_reused_and_replaced_when_deleted(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    assert handoff.topic_of("1001", STAFF_CHAT) is None  # the front-end creates it in Telegram first
    topic = handoff.save_topic("1001", STAFF_CHAT, 77, ticket.reference)
    assert handoff.topic_by_thread(STAFF_CHAT, 77) == topic
    assert handoff.ticket_for_thread(STAFF_CHAT, 77) == ticket
    assert handoff.ticket_for_thread(STAFF_CHAT, 1) is None  # General: nothing is relayed from there
    assert handoff.topic_deleted(STAFF_CHAT, 77)
    assert handoff.ticket_for_thread(STAFF_CHAT, 77) is None
    handoff.save_topic("1001", STAFF_CHAT, 91, ticket.reference)
    assert handoff.ticket_for_thread(STAFF_CHAT, 91) == ticket


def test_a_staff_reply_in_a_resolved_ticket_topic_finds_no_ticket(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.save_topic("1001", STAFF_CHAT, 77, ticket.reference)
    handoff.resolve(ticket.id, MARYAM)
    handoff.set_topic_closed(STAFF_CHAT, 77, True)
    assert handoff.ticket_for_thread(STAFF_CHAT, 77) is None
    topic = handoff.topic_of("1001", STAFF_CHAT)
    assert topic is not None and topic.closed


def test_tickets_go_to_the_group_of_their_language(store: Store, clock: FixedClock) -> None:
    farsi_group = -1009999999999
    routing = StaffRouting(STAFF_CHAT, {"fa": farsi_group})
    handoff = HandoffStore(store, clock, routing=routing, reference=reference)
    farsi, _ = handoff.open_ticket("1001", "live", "fa")
    french, _ = handoff.open_ticket("1002", "live", "fr")
    assert (farsi.chat_id, french.chat_id) == (farsi_group, STAFF_CHAT)
    handoff.save_topic("1001", farsi_group, 5, farsi.reference)
    handoff.save_topic("1002", STAFF_CHAT, 5, french.reference)  # thread ids are per group
    assert handoff.ticket_for_thread(farsi_group, 5) == farsi
    assert handoff.ticket_for_thread(STAFF_CHAT, 5) == french


# -- relay pairs -------------------------------------------------------------------------------


def test_relay_pairs_keep_ids_in_order_and_ignore_a_repeated_update(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    first = handoff.record_relay(ticket.id, "in", 10)
    second = handoff.record_relay(ticket.id, "in", 11)
    reply = handoff.record_relay(ticket.id, "out", 500)
    assert first is not None and second is not None and reply is not None
    assert handoff.record_relay(ticket.id, "in", 10) is None  # Telegram sent the update again
    assert [pair.id for pair in handoff.pending_relays(ticket.id)] == [first.id, second.id, reply.id]
    assert handoff.relay_delivered(first.id, 300)
    assert not handoff.relay_delivered(first.id, 301)  # delivered once
    assert [pair.source_message_id for pair in handoff.pending_relays()] == [11, 500]
    assert handoff.relay_delivered(reply.id, 12)
    found = handoff.find_pair(ticket.id, staff_message_id=300)
    assert found is not None and found.person_message_id == 10  # a reply to the copy finds the original
    found = handoff.find_pair(ticket.id, person_message_id=12)
    assert found is not None and found.staff_message_id == 500


def test_nothing_is_relayed_for_a_resolved_ticket(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.resolve(ticket.id, MARYAM)
    with pytest.raises(TicketResolved):
        handoff.record_relay(ticket.id, "out", 500)


def test_an_undeliverable_copy_can_be_dropped(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    pair = handoff.record_relay(ticket.id, "out", 500)
    assert pair is not None
    handoff.drop_relay(pair.id)
    assert handoff.pending_relays() == []


# -- staff duty ------------------------------------------------------------------------------


def test_duty_holds_for_the_brussels_day_it_was_set(handoff: HandoffStore, clock: FixedClock) -> None:
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    assert [member.alias for member in handoff.on_duty(STAFF_CHAT)] == ["Maryam"]
    assert handoff.on_duty(-1000000000001) == []
    clock.set(datetime(2026, 12, 7, 22, 59, tzinfo=UTC))  # 23:59 in Brussels
    assert len(handoff.on_duty(STAFF_CHAT)) == 1
    clock.advance(timedelta(minutes=1))  # midnight in Brussels
    assert handoff.on_duty(STAFF_CHAT) == []
    handoff.set_duty(501, "Maryam", True, STAFF_CHAT)
    handoff.set_duty(501, "Maryam", False)
    assert handoff.on_duty() == []


# -- forgetting --------------------------------------------------------------------------------


def _rows_mentioning(db: Database, needle: str) -> list[tuple[str, tuple[object, ...]]]:
    found = []
    for table in db.table_names():
        for row in db.execute(f"SELECT * FROM [{table}]").fetchall():
            if any(needle == str(value) for value in row):
                found.append((table, tuple(row)))
    return found


def test_forget_leaves_no_row_about_the_person_and_queues_their_topic_for_deletion(
    store: Store, handoff: HandoffStore
) -> None:
    store.save_user(store.load_user("1001").but(language="fa"))
    old, _ = handoff.open_ticket("1001", "live", "fa", ["how_to_apply"])
    handoff.resolve(old.id, MARYAM)
    ticket, _ = handoff.open_ticket("1001", "callback", "fa", callback_id=3)
    handoff.save_topic("1001", STAFF_CHAT, 77, ticket.reference)
    handoff.claim(ticket.id, MARYAM)
    pair = handoff.record_relay(ticket.id, "in", 10)
    assert pair is not None
    handoff.relay_delivered(pair.id, 300)
    handoff.card_shows_phone(ticket.id, STAFF_CHAT, 299)  # the call-back's card, goes with the topic
    handoff.open_ticket("2002", "live", "fr")  # someone else, untouched

    plan = handoff.prepare_forget("1001")
    assert [t.id for t in plan.open_tickets] == [ticket.id]
    assert [(t.chat_id, t.thread_id) for t in plan.topics] == [(STAFF_CHAT, 77)]
    assert not handoff.ticket(ticket.id).relays_person  # nothing more is relayed meanwhile
    with pytest.raises(TicketResolved):
        handoff.record_relay(ticket.id, "in", 11)

    assert store.forget_user("1001")
    assert _rows_mentioning(store.db, "1001") == []
    assert _rows_mentioning(store.db, ticket.reference) == []
    assert handoff.db.execute("SELECT count(*) FROM relay_pairs").fetchone()[0] == 0
    assert handoff.phone_cards() == []
    assert handoff.open_ticket_of("2002") is not None
    [cleanup] = handoff.pending_cleanups()
    assert (cleanup.chat_id, cleanup.thread_id, cleanup.ticket_ids) == (STAFF_CHAT, 77, (old.id, ticket.id))
    assert cleanup.reason == "forget"
    handoff.cleanup_done(cleanup.id)
    assert handoff.pending_cleanups() == []


def test_retention_of_an_inactive_person_queues_their_topic_with_the_reason_retention(
    store: Store, clock: FixedClock, handoff: HandoffStore
) -> None:
    store.save_user(store.load_user("1001"))
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.save_topic("1001", STAFF_CHAT, 77, ticket.reference)
    clock.advance(timedelta(days=181))
    assert store.purge_inactive(timedelta(days=180)) == 1
    assert _rows_mentioning(store.db, "1001") == []
    [cleanup] = handoff.pending_cleanups()
    assert (cleanup.thread_id, cleanup.ticket_ids, cleanup.reason) == (77, (ticket.id,), "retention")


# -- retention -------------------------------------------------------------------------------


def test_retention_deletes_old_resolved_tickets_with_their_pairs_and_lists_stale_topics(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    old, _ = handoff.open_ticket("1001", "live", "fa")
    handoff.save_topic("1001", STAFF_CHAT, 77, old.reference)
    pair = handoff.record_relay(old.id, "in", 10)
    assert pair is not None
    handoff.resolve(old.id, MARYAM)
    recent, _ = handoff.open_ticket("2002", "live", "fr")
    handoff.save_topic("2002", STAFF_CHAT, 78, recent.reference)
    clock.advance(timedelta(days=20))
    handoff.resolve(recent.id, MARYAM)
    still_open, _ = handoff.open_ticket("3003", "live", "nl")

    clock.advance(timedelta(days=11))  # 31 days after the first resolve, 11 after the second
    counts = handoff.purge(retention_days=30)
    assert (counts.tickets, counts.relay_pairs) == (1, 1)
    with pytest.raises(TicketNotFound):
        handoff.ticket(old.id)
    assert handoff.ticket(recent.id).state == "resolved"
    assert handoff.ticket(still_open.id).state == "waiting"
    assert [(t.user_id, t.thread_id) for t in handoff.stale_topics(30)] == [("1001", 77)]
    assert handoff.topic_deleted(STAFF_CHAT, 77)
    assert handoff.stale_topics(30) == []


def test_a_relay_pair_is_sent_by_one_sender_and_retaken_only_when_abandoned(
    handoff: HandoffStore, clock: FixedClock
) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    pair = handoff.record_relay(ticket.id, "in", 10)
    assert pair is not None
    assert handoff.claim_relay(pair.id)
    assert not handoff.claim_relay(pair.id)  # the resume job finds the live handler sending it
    clock.advance(timedelta(minutes=2, seconds=1))  # the sender was killed before recording delivery
    assert handoff.claim_relay(pair.id)
    assert handoff.relay_delivered(pair.id, 300)
    clock.advance(timedelta(minutes=5))
    assert not handoff.claim_relay(pair.id)  # delivered: never sent again


def test_a_reply_is_relayed_as_a_reply_to_the_copy_on_the_other_side(handoff: HandoffStore) -> None:
    ticket, _ = handoff.open_ticket("1001", "live", "fa")
    asked = handoff.record_relay(ticket.id, "in", 10)  # the person's message, copied as 300
    assert asked is not None and handoff.relay_delivered(asked.id, 300)
    answer = handoff.record_relay(ticket.id, "out", 500, reply_to=300)  # the counsellor answers the copy
    assert answer is not None and answer.reply_to == 300
    assert handoff.reply_target(answer) == 10  # the person sees their own message answered
    assert handoff.relay_delivered(answer.id, 11)
    back = handoff.record_relay(ticket.id, "in", 12, reply_to=11)  # the person answers the counsellor's copy
    assert back is not None and handoff.reply_target(back) == 500
    plain = handoff.record_relay(ticket.id, "in", 13)
    unknown = handoff.record_relay(ticket.id, "in", 14, reply_to=3)  # an answer to one of the bot's own
    assert plain is not None and unknown is not None
    assert handoff.reply_target(plain) is None and handoff.reply_target(unknown) is None
