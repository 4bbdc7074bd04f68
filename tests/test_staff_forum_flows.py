"""The staff forum end to end, continued: the card's topics, replies and signed media, leaving,
release, retention and the median wait. The real Application against the fake Bot API's forum,
a real SQLite file and the forum's injected clock (no Rasa: buttons and commands only)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.booking.staff import booking_card
from bot.content.topics import COUNSELLOR
from bot.dialogue.replies import TOPIC
from bot.frontends.staff_forum import StaffForum, default_alias
from bot.handoff.desk import LIVE
from bot.handoff.models import Actor
from tests.telegram_world import buttons
from tests.test_staff_forum import ANNA, BRAM, KEY, OTHER_PERSON, PERSON, STAFF, World, running_world


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as running:
        yield running


async def claimed(world: World, language: str = "en") -> int:
    """A person waiting, claimed by Anna; return the topic's thread id."""
    await world.duty_on()
    await world.ask_for_person(language=language)
    assert "You hold ticket" in await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)  # a counsellor is with you
    return world.thread()


def forum(world: World) -> StaffForum:
    found: StaffForum = world.app.bot_data["staff_forum"]
    return found


# -- the card: topics asked about -------------------------------------------------------------


async def test_staff_forum_card_lists_the_topics_asked_by_label_in_the_staff_language(tmp_path: Path) -> None:
    async with running_world(tmp_path, STAFF_LANGUAGE="fr") as world:
        await world.duty_on()
        world.api.send_command(PERSON, "/start", "en")
        await world.api.wait_for_messages(PERSON, 3)
        menu = world.api.messages_to(PERSON)[-1]
        for topic in ("how_to_apply", "costs"):
            world.api.press_button(PERSON, TOPIC + topic, menu.message_id)
            await world.api.wait_for_messages(PERSON, 1)
        world.api.press_button(PERSON, TOPIC + COUNSELLOR, menu.message_id)
        offer, _contacts = await world.api.wait_for_messages(PERSON, 2)
        world.api.press_button(PERSON, LIVE, offer.message_id)
        await world.api.wait_for_messages(PERSON, 1)
        ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
        assert ticket is not None and ticket.asked_topics == ("how_to_apply", "costs")
        tr = world.services.library.translator("fr")
        labels = ", ".join(tr.label(topic) for topic in ("how_to_apply", "costs"))
        line = html.unescape(tr.gettext("Asked about: {topics}", topics=labels))
        assert line != f"Asked about: {labels}"  # the French line, not the English one
        assert line in world.card()["text"].splitlines()


# -- replies and signatures -------------------------------------------------------------------


async def test_staff_forum_replies_arrive_as_replies_to_the_copies_both_ways(world: World) -> None:
    thread = await claimed(world)
    asked = world.api.send_text(PERSON, "Which form do I need?")["message"]["message_id"]
    await world.wait(
        lambda: world.staff_messages(thread)[-1].get("text") == "Which form do I need?", "the copy"
    )
    copy_in_topic = world.staff_messages(thread)[-1]["message_id"]

    # A message in a topic "replies" to the topic's first message in Telegram: not an answer.
    world.api.send_forum_text(STAFF, ANNA, "One moment.", thread_id=thread, reply_to=thread)
    plain, _signature = await world.api.wait_for_messages(PERSON, 2)
    assert "reply_to_message" not in world.api.message(PERSON, plain.message_id)

    answer = world.api.send_forum_text(STAFF, ANNA, "The form 3b.", thread_id=thread, reply_to=copy_in_topic)
    [copy] = await world.api.wait_for_messages(PERSON, 1)
    assert copy.text == "The form 3b."
    assert world.api.message(PERSON, copy.message_id)["reply_to_message"]["message_id"] == asked

    world.api.send_text(PERSON, "Thank you", reply_to=copy.message_id)
    await world.wait(lambda: world.staff_messages(thread)[-1].get("text") == "Thank you", "the reply's copy")
    in_topic = world.staff_messages(thread)[-1]
    assert in_topic["reply_to_message"]["message_id"] == answer["message"]["message_id"]


async def test_staff_forum_media_is_signed_in_its_caption_and_text_by_a_line(world: World) -> None:
    thread = await claimed(world)
    alias = default_alias(ANNA)
    world.api.send_forum_text(STAFF, ANNA, "Here is the form.", thread_id=thread)
    text, signature = await world.api.wait_for_messages(PERSON, 2)
    assert (text.text, signature.text) == ("Here is the form.", f"— {alias}")  # text signing as before
    world.api.send_forum_photo(STAFF, ANNA, thread_id=thread, caption="Page 1")
    world.api.send_forum_voice(STAFF, ANNA, thread_id=thread)
    photo, voice = await world.api.wait_for_messages(PERSON, 2)
    assert photo.method == voice.method == "copyMessage"
    assert world.api.message(PERSON, photo.message_id)["caption"] == f"Page 1\n\n— {alias}"
    held = world.api.message(PERSON, voice.message_id)
    assert "voice" in held and held["caption"] == f"— {alias}"
    sent = len(world.api.messages_to(PERSON))
    await asyncio.sleep(0.5)
    assert len(world.api.messages_to(PERSON)) == sent  # no signature line after the media
    # The counsellor's own photo in the topic keeps its caption as written.
    assert all(m.get("caption") in (None, "Page 1") for m in world.staff_messages(thread) if "photo" in m)


# -- leaving and release ----------------------------------------------------------------------


async def test_staff_forum_end_typed_by_the_person_ends_the_conversation(world: World) -> None:
    thread = await claimed(world, "nl")
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    before = len(world.staff_messages(thread))
    world.api.send_command(PERSON, "/end")
    [ended] = await world.api.wait_for_messages(PERSON, 1)
    tr = world.services.library.translator("nl")
    assert ended.text == tr.gettext(
        "The conversation with the counsellor has ended. I answer your questions again."
    )
    await world.wait(lambda: world.api.topics(STAFF)[thread].closed, "the topic closed")
    assert (
        world.staff_messages(thread)[before]["text"]
        == f"Ticket {ticket.id}: the person ended the conversation."
    )
    done = world.services.handoff.tickets.ticket(ticket.id)
    assert (done.state, done.ended_by) == ("resolved", "person")
    # The assistant answers again: a photo gets the dialogue's reply, nothing goes to the topic.
    world.api.send_photo(PERSON)
    [answer] = await world.api.wait_for_messages(PERSON, 1)
    assert answer.method == "sendMessage"
    assert len(world.staff_messages(thread)) == before + 1


async def test_staff_forum_release_tells_the_person_they_wait_for_the_next_counsellor(world: World) -> None:
    thread = await claimed(world, "fr")
    assert "back in the queue" in await world.press_card(ANNA, "r")
    [told] = await world.api.wait_for_messages(PERSON, 1)
    tr = world.services.library.translator("fr")
    assert told.text == "\n".join([
        tr.gettext("Your counsellor had to leave. You are waiting for the next one."),
        tr.gettext("Your place in the queue: {position}.", position=1),
    ])  # fmt: skip
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.state == "waiting" and ticket.claimed_by is None
    world.api.send_text(PERSON, "still there?")  # still relayed while waiting, not answered
    await world.wait(lambda: world.staff_messages(thread)[-1].get("text") == "still there?", "the copy")
    assert "You hold ticket" in await world.press_card(BRAM, "c")


# -- retention and the median wait ------------------------------------------------------------


async def test_staff_forum_retention_deletes_an_old_topic_and_a_new_ticket_gets_a_new_one(
    world: World,
) -> None:
    thread = await claimed(world)
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    await world.staff_says(ANNA, "/resolve", thread=thread)
    await world.api.wait_for_messages(PERSON, 1)
    world.clock.advance(timedelta(days=29))
    await forum(world).housekeeping()
    assert not world.api.topics(STAFF)[thread].deleted  # within retention: kept
    world.clock.advance(timedelta(days=2))
    await forum(world).housekeeping()
    assert world.api.topics(STAFF)[thread].deleted
    assert world.services.handoff.tickets.topic_of(f"tg:{PERSON}", STAFF) is None
    assert world.services.handoff.tickets.tickets(include_resolved=True) == []
    await world.duty_on()  # duty ended with the day
    world.api.send_command(PERSON, "/menu")
    [menu] = await world.api.wait_for_messages(PERSON, 1)
    world.api.press_button(PERSON, TOPIC + COUNSELLOR, menu.message_id)
    offer, _contacts = await world.api.wait_for_messages(PERSON, 2)
    world.api.press_button(PERSON, LIVE, offer.message_id)
    await world.api.wait_for_messages(PERSON, 1)
    assert world.thread() != thread and not world.api.topics(STAFF)[world.thread()].deleted


async def test_staff_forum_median_wait_is_shown_only_once_five_were_claimed(world: World) -> None:
    tickets = world.services.handoff.tickets
    maryam = Actor(777, "Maryam")

    def claimed_after(user: str, minutes: int) -> None:
        ticket, _ = tickets.open_ticket(user, "live", "en")
        world.clock.advance(timedelta(minutes=minutes))
        tickets.claim(ticket.id, maryam)
        tickets.resolve(ticket.id, maryam)

    for number, minutes in enumerate((2, 4, 6, 8)):
        claimed_after(f"tg:{5000 + number}", minutes)
    await world.duty_on()
    waiting = await world.ask_for_person(PERSON)
    assert "Your place in the queue: 1." in waiting.text and "minutes" not in waiting.text  # 4: no figure
    claimed_after("tg:5004", 10)  # the fifth: median of 2, 4, 6, 8, 10 minutes
    waiting = await world.ask_for_person(OTHER_PERSON)
    assert "Your place in the queue: 2." in waiting.text
    assert "Recently, people waited about 6 minutes." in waiting.text
    assert LIVE not in buttons(waiting)


async def test_staff_forum_released_meeting_ticket_hands_the_person_back_to_the_assistant(
    world: World,
) -> None:
    bookings = world.services.bookings
    slot = bookings.add_slot(world.clock.now() + timedelta(days=2), 30, "phone", ("en",))
    booking = bookings.book(f"tg:{PERSON}", slot.id, "en", phone="+32470123456")
    await world.services.booking_desk.board.post(booking_card("new", booking, KEY))
    assert "You hold ticket" in await world.press_card(ANNA, "c")
    [joined] = await world.api.wait_for_messages(PERSON, 1)
    assert "A counsellor is with you now" in joined.text
    assert "back in the queue" in await world.press_card(ANNA, "r")
    [told] = await world.api.wait_for_messages(PERSON, 1)
    assert told.text == "The conversation with the counsellor has ended. I answer your questions again."
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.state == "waiting" and not ticket.relays_person  # still with staff
