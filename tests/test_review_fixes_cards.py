"""Review R2's NICE findings on what staff see, end to end: the fake forum, a real Application, SQLite.

A person removed by retention is not reported as having deleted their data, the phone
number on a ticket's card goes from Telegram when the database erases it, and a membership
Telegram cannot confirm is denied without crashing the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.booking.staff import booking_card, callback_card
from tests.fakebotapi import FailureKind, SentMessage
from tests.test_staff_forum import BRAM, KEY, PERSON, STAFF, World, running_world

PHONE = "+32470123456"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as running:
        yield running


def general_texts(world: World) -> list[str]:
    return [str(m.get("text", "")) for m in world.staff_messages(None)]


# -- why a topic is deleted ---------------------------------------------------------------------


async def test_forum_retention_of_an_inactive_person_tells_staff_retention_not_deleted_data(
    world: World,
) -> None:
    await world.duty_on()
    await world.ask_for_person()
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    thread = world.thread()
    world.clock.advance(timedelta(days=world.services.settings.retention_days + 1))
    assert world.services.store.purge_inactive(timedelta(days=world.services.settings.retention_days)) == 1
    await world.wait(lambda: world.api.topics(STAFF)[thread].deleted, "the topic deleted")
    retention = f"Ticket {ticket.id}: removed after the retention period."
    await world.wait(lambda: retention in general_texts(world), "the notice in General")
    assert f"Ticket {ticket.id}: the person deleted their data." not in general_texts(world)
    assert world.services.handoff.tickets.pending_cleanups() == []


# -- the phone number leaves the card with the database's copy ------------------------------------


def card_edits(world: World, message_id: int) -> list[SentMessage]:
    return [m for m in world.api.messages_to(STAFF)
            if m.method == "editMessageText" and m.message_id == message_id]  # fmt: skip


async def test_forum_phone_is_edited_out_of_the_meeting_card_once_the_meeting_is_over(world: World) -> None:
    bookings = world.services.bookings
    slot = bookings.add_slot(world.clock.now() + timedelta(days=2), 30, "phone", ("en",))
    booking = bookings.book(f"tg:{PERSON}", slot.id, "en", phone=PHONE)
    await world.services.booking_desk.board.post(booking_card("new", booking, KEY))
    card = world.card()
    assert f"Phone: {PHONE}" in card["text"]
    await asyncio.sleep(6)  # a run of the job while the number is still needed: the card stays
    assert card_edits(world, card["message_id"]) == []

    world.clock.advance(timedelta(days=3))  # the meeting is over
    assert bookings.purge().phones_erased == 1
    await world.wait(lambda: world.services.handoff.tickets.phone_cards() == [], "the card edited")
    shown = world.api.message(STAFF, card["message_id"])["text"]
    assert PHONE not in shown and "Phone:" not in shown
    assert "Meeting:" in shown and shown.startswith(f"Ticket {booking_ticket(world)}")  # the same card
    assert len(card_edits(world, card["message_id"])) == 1  # edited once: nothing left to edit


async def test_forum_phone_is_edited_out_of_the_call_back_card_once_the_call_is_done(world: World) -> None:
    bookings = world.services.bookings
    callback = bookings.request_callback(f"tg:{PERSON}", PHONE, "en", "morning")
    await world.services.booking_desk.board.post(callback_card(callback, KEY))
    card = world.card()
    assert PHONE in card["text"]
    bookings.callback_done(callback.id)  # `bot callbacks done`: the number is erased at once
    await world.wait(lambda: world.services.handoff.tickets.phone_cards() == [], "the card edited")
    assert PHONE not in world.api.message(STAFF, card["message_id"])["text"]
    assert len(card_edits(world, card["message_id"])) == 1


async def test_forum_card_that_cannot_be_edited_is_logged_by_ticket_number_and_left(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    bookings = world.services.bookings
    callback = bookings.request_callback(f"tg:{PERSON}", PHONE, "en", "morning")
    await world.services.booking_desk.board.post(callback_card(callback, KEY))
    card = world.card()
    ticket = booking_ticket(world)
    world.api.delete_topic_by_hand(STAFF, world.thread())  # the card goes with its topic
    with caplog.at_level(logging.WARNING, logger="bot.frontends.staff_forum"):
        bookings.callback_done(callback.id)
        await world.wait(lambda: world.services.handoff.tickets.phone_cards() == [], "the card given up")
    assert f"The card of ticket {ticket} could not be edited" in caplog.text
    assert PHONE not in caplog.text
    assert card_edits(world, card["message_id"]) == []


def booking_ticket(world: World) -> int:
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    return ticket.id


# -- Telegram not answering about membership ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["blocked", "server_error"])
async def test_forum_membership_telegram_cannot_confirm_is_denied_not_audited_and_asked_again(
    world: World, kind: FailureKind
) -> None:
    world.api.fail_next("getChatMember", kind=kind)
    await world.staff_says(BRAM, "/queue")
    assert world.staff_messages(None)[-1]["text"] == "Only staff of this group can do that."
    assert [e for e in world.services.handoff.tickets.audit() if e.action == "forged_attempt"] == []
    await world.staff_says(BRAM, "/queue")  # the failure was not cached: Telegram is asked again
    assert world.staff_messages(None)[-1]["text"] == "Nobody is waiting."
