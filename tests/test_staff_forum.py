"""The staff forum end to end: the real Application, the fake Bot API with a forum group, a real SQLite file.

Tests that need free text understood use the real Rasa server (the session fixture); the
others send commands, buttons, photos and staff messages only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.booking.staff import booking_card
from bot.clock import FixedClock
from bot.content.topics import COUNSELLOR
from bot.dialogue.replies import FORGET_YES, TOPIC
from bot.frontends.staff_forum import default_alias
from bot.handoff.desk import END, LIVE
from bot.services import Services
from bot.startup import StartupError
from tests.conftest import CONTENT_DAY
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, SentMessage
from tests.telegram_world import buttons, running_assistant

PERSON = 4001
OTHER_PERSON = 4002
STAFF = -1001000000001
ANNA, BRAM = 501, 502
STRANGER = 999
NO_NLU = "http://127.0.0.1:9"
KEY = "k" * 32
STAFF_ENV = {
    "STAFF_CHAT_ID": str(STAFF),
    "PSEUDONYM_KEY": KEY,
    "OFFICE_HOURS": "Mon-Sun 00:00-24:00",  # always open: the tests pass on any day
}


@dataclass
class World:
    """A running assistant, its services and clock, and the fake Telegram with the staff forum."""

    api: FakeBotApi
    services: Services
    clock: FixedClock
    app: Application[Any, Any, Any, Any, Any, Any]

    async def wait(self, predicate: Callable[[], bool], what: str, seconds: float = 15) -> None:
        for _ in range(int(seconds / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def staff_messages(self, thread: int | None = None) -> list[dict[str, Any]]:
        """What the bot posted in the staff group (one topic, or General when thread is None)."""
        found = []
        for sent in self.api.messages_to(STAFF):
            if sent.method == "editMessageText":
                continue
            with contextlib.suppress(KeyError):
                message = self.api.message(STAFF, sent.message_id)
                if message.get("message_thread_id") == thread:
                    found.append(message)
        return found

    def thread(self, user: int = PERSON) -> int:
        topic = self.services.handoff.tickets.topic_of(f"tg:{user}", STAFF)
        assert topic is not None
        return topic.thread_id

    async def staff_says(self, user: int, text: str, thread: int | None = None) -> None:
        before = len(self.api.messages_to(STAFF))
        self.api.send_forum_text(STAFF, user, text, thread_id=thread)
        await self.wait(lambda: len(self.api.messages_to(STAFF)) > before, f"an answer to {text}")

    async def duty_on(self, user: int = ANNA) -> None:
        await self.staff_says(user, "/duty on")

    async def ask_for_person(self, user: int = PERSON, language: str = "en") -> SentMessage:
        """/start in a language, "talk to a counsellor", "talk to someone now"; return the waiting reply."""
        self.api.send_command(user, "/start", language)
        await self.api.wait_for_messages(user, 3)  # confirmation, privacy, menu
        menu = self.api.messages_to(user)[-1]
        self.api.press_button(user, TOPIC + COUNSELLOR, menu.message_id)
        offer, *_ = await self.api.wait_for_messages(user, 2)
        assert LIVE in buttons(offer), offer.text
        self.api.press_button(user, LIVE, offer.message_id)
        [waiting] = await self.api.wait_for_messages(user, 1)
        return waiting

    def card(self, user: int = PERSON) -> dict[str, Any]:
        cards = [m for m in self.staff_messages(self.thread(user)) if m.get("reply_markup")]
        assert cards, "a card in the person's topic"
        return cards[-1]

    async def press_card(self, staff: int, action: str, user: int = PERSON) -> str:
        """Press Claim/Release/Resolve on the person's card; return the pop-up's text."""
        card = self.card(user)
        data = next(b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row
                    if b["callback_data"].startswith(f"hs:{action}:"))  # fmt: skip
        before = len(self.api.calls_to("answerCallbackQuery"))
        self.api.press_button(staff, data, card["message_id"], chat_id=STAFF)
        await self.wait(lambda: len(self.api.calls_to("answerCallbackQuery")) > before, "the pop-up")
        return str(self.api.calls_to("answerCallbackQuery")[before].get("text", ""))


@contextlib.asynccontextmanager
async def running_world(
    tmp_path: Path, rasa_url: str = NO_NLU, *, forum: dict[str, Any] | None = None, **overrides: str
) -> AsyncIterator[World]:
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        api.make_forum(STAFF, members={ANNA: "member", BRAM: "administrator"}, **(forum or {}))
        async with running_assistant(api, tmp_path, rasa_url, **{**STAFF_ENV, **overrides}) as running:
            yield World(api, running.services, running.clock, running.app)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as running:
        yield running


# -- start-up ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forum", "says"),
    [
        ({"is_forum": False}, "turn on Topics"),
        ({"bot_status": "member"}, "administrator with the right to manage topics"),
        ({"can_manage_topics": False}, "administrator with the right to manage topics"),
    ],
    ids=["not-a-forum", "not-admin", "no-topic-right"],
)
async def test_staff_forum_startup_says_what_to_change_in_telegram(
    tmp_path: Path, forum: dict[str, Any], says: str
) -> None:
    with pytest.raises(StartupError) as raised:
        async with running_world(tmp_path, forum=forum):
            pass
    message = str(raised.value)
    assert says in message and str(STAFF) in message and "\n" not in message


# -- tickets, cards, claims -------------------------------------------------------------------


async def test_staff_forum_live_request_opens_a_topic_named_by_reference_and_a_card(world: World) -> None:
    await world.duty_on()
    waiting = await world.ask_for_person(language="en")
    assert "Your place in the queue: 1." in waiting.text
    assert "minutes" not in waiting.text  # no history: no made-up wait
    assert END in buttons(waiting)
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.relays_person
    [topic] = world.api.topics(STAFF).values()
    assert topic.name == f"{ticket.reference} · en"
    assert "Test" not in topic.name and str(PERSON) not in topic.name
    card = world.card()
    assert f"Ticket {ticket.id} · {ticket.reference} · en" in card["text"]
    assert "live conversation" in card["text"] and "Waiting for a counsellor" in card["text"]
    assert all(len(b["callback_data"].encode()) <= 64 for row in card["reply_markup"]["inline_keyboard"]
               for b in row)  # fmt: skip


async def test_staff_forum_without_anyone_on_duty_offers_a_meeting_or_a_call_back(world: World) -> None:
    world.api.send_command(PERSON, "/start", "en")
    await world.api.wait_for_messages(PERSON, 3)
    world.api.press_button(PERSON, TOPIC + COUNSELLOR, world.api.messages_to(PERSON)[-1].message_id)
    unavailable, contacts = await world.api.wait_for_messages(PERSON, 2)
    assert "No counsellor can write with you right now" in unavailable.text
    assert LIVE not in buttons(unavailable) and "b:book" in buttons(contacts)
    assert world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}") is None


async def test_staff_forum_parallel_claims_one_wins_the_other_is_told_who(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    card = world.card()
    data = next(b["callback_data"] for b in card["reply_markup"]["inline_keyboard"][0])
    before = len(world.api.calls_to("answerCallbackQuery"))
    world.api.press_button(ANNA, data, card["message_id"], chat_id=STAFF)
    world.api.press_button(BRAM, data, card["message_id"], chat_id=STAFF)
    await world.wait(lambda: len(world.api.calls_to("answerCallbackQuery")) >= before + 2, "two pop-ups")
    texts = [str(call.get("text")) for call in world.api.calls_to("answerCallbackQuery")[before:]]
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.state == "claimed"
    assert sum("You hold ticket" in text for text in texts) == 1
    assert sum(f"already claimed by {ticket.claimed_alias}" in text for text in texts) == 1
    [claimed] = await world.api.wait_for_messages(PERSON, 1)
    assert "A counsellor is with you now" in claimed.text


async def test_staff_forum_forged_claim_by_a_non_member_does_nothing_and_is_audited(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    said = await world.press_card(STRANGER, "c")
    assert said == "Only staff of this group can do that."
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.state == "waiting"
    audit = world.services.handoff.tickets.audit()
    assert [
        (entry.action, entry.staff_id, entry.ticket_id) for entry in audit if entry.action == "forged_attempt"
    ] == [("forged_attempt", STRANGER, ticket.id)]
    # The same command typed in a private chat by a stranger: nothing done, answered as any
    # unknown command, and not audited (a person's id would outlive /forget; review R2).
    world.api.send_command(STRANGER, "/claim", str(ticket.id))
    await world.api.wait_for_messages(STRANGER, 1)
    assert len([e for e in world.services.handoff.tickets.audit() if e.action == "forged_attempt"]) == 1
    assert world.services.handoff.tickets.ticket(ticket.id).state == "waiting"


# -- live relay -------------------------------------------------------------------------------


async def test_staff_forum_relay_both_ways_as_copies_signed_with_the_alias(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    assert "You hold ticket" in await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)  # a counsellor is with you
    thread = world.thread()

    world.api.send_text(PERSON, "I lost my passport")
    world.api.send_photo(PERSON)
    await world.wait(lambda: len(world.staff_messages(thread)) >= 3, "two copies in the topic")
    text_copy, photo_copy = world.staff_messages(thread)[-2:]
    assert text_copy["text"] == "I lost my passport" and "photo" in photo_copy
    for copied in (text_copy, photo_copy):
        assert copied["from"]["is_bot"] and "forward_origin" not in copied and "forward_from" not in copied

    world.api.send_forum_text(STAFF, ANNA, "We can help with that.", thread_id=thread)
    world.api.send_forum_photo(STAFF, ANNA, thread_id=thread)
    copy, signature, photo = await world.api.wait_for_messages(PERSON, 3)
    assert copy.method == "copyMessage" and copy.text == "We can help with that."
    alias = default_alias(ANNA)
    assert signature.text == f"— {alias}"
    assert photo.method == "copyMessage"
    person_side = world.api.message(PERSON, photo.message_id)
    assert "photo" in person_side and person_side["from"]["is_bot"] and "forward_origin" not in person_side
    # The dialogue stayed silent: the person's messages were relayed, not answered.
    await asyncio.sleep(0.3)
    assert world.api.messages_to(PERSON)[-1].method == "copyMessage"


async def test_staff_forum_voice_and_document_are_copied_and_edits_follow(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    thread = world.thread()
    written = world.api.send_text(PERSON, "my flight is on Monday")["message"]["message_id"]
    world.api.send_voice(PERSON)
    world.api.send_document(PERSON)
    await world.wait(lambda: "document" in world.staff_messages(thread)[-1], "three copies")
    text_copy, voice, document = world.staff_messages(thread)[-3:]
    assert "voice" in voice and "document" in document
    world.api.edit_text(PERSON, written, "my flight is on Tuesday")
    copy_id = text_copy["message_id"]
    await world.wait(
        lambda: world.api.message(STAFF, copy_id)["text"] == "my flight is on Tuesday", "the edit"
    )
    staff_message = world.api.send_forum_text(STAFF, ANNA, "See you at 10", thread_id=thread)["message"]
    copy, _signature = await world.api.wait_for_messages(PERSON, 2)
    world.api.edit_forum_text(STAFF, staff_message["message_id"], "See you at 11")
    [edited] = await world.api.wait_for_messages(PERSON, 1)
    assert edited.method == "editMessageText" and edited.message_id == copy.message_id
    assert edited.text == "See you at 11"


async def test_staff_forum_message_from_a_counsellor_who_does_not_hold_the_ticket_is_not_sent(
    world: World,
) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    await world.staff_says(BRAM, "hello from Bram", thread=world.thread())
    assert "holds ticket" in world.staff_messages(world.thread())[-1]["text"]
    await asyncio.sleep(0.3)
    assert all("Bram" not in m.text for m in world.api.messages_to(PERSON))


async def test_staff_forum_429_on_a_copy_is_retried_and_delivered_once(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    world.api.fail_next("copyMessage", 1, "retry_after", retry_after=1)
    world.api.send_text(PERSON, "first")
    world.api.send_text(PERSON, "second")
    thread = world.thread()
    await world.wait(lambda: len([m for m in world.staff_messages(thread) if "text" in m
                                  and m["text"] in ("first", "second")]) >= 2, "both copies")  # fmt: skip
    await asyncio.sleep(0.5)
    copies = [m["text"] for m in world.staff_messages(thread) if m.get("text") in ("first", "second")]
    assert copies == ["first", "second"]
    assert any(call.failure == "retry_after" for call in world.api.calls)


async def test_staff_forum_answer_sends_the_vetted_text_in_the_persons_language(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person(language="fa")
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    thread = world.thread()
    await world.staff_says(ANNA, "/answer", thread=thread)
    assert "how_to_apply" in world.staff_messages(thread)[-1]["text"]
    await world.staff_says(ANNA, "/answer how_to_apply", thread=thread)
    answer, signature = await world.api.wait_for_messages(PERSON, 2)
    assert answer.text == world.services.library.answer("how_to_apply", "fa").text
    assert signature.text == f"— {default_alias(ANNA)}"
    assert "Sent the vetted answer how_to_apply in fa" in world.staff_messages(thread)[-1]["text"]
    assert [e.detail for e in world.services.handoff.tickets.audit() if e.action == "answer"] == [
        "how_to_apply"
    ]


async def test_staff_forum_resolve_closes_the_topic_and_the_person_is_told(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person(language="fr")
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    thread = world.thread()
    await world.staff_says(ANNA, "/resolve", thread=thread)
    [ended] = await world.api.wait_for_messages(PERSON, 1)
    tr = world.services.library.translator("fr")
    assert ended.text == tr.gettext(
        "The conversation with the counsellor has ended. I answer your questions again."
    )
    assert world.api.topics(STAFF)[thread].closed
    assert world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}") is None
    # A counsellor writing in the resolved ticket's topic is told; nothing reaches the person.
    world.api.topics(STAFF)[thread].closed = False  # an administrator may still write there
    await world.staff_says(ANNA, "one more thing", thread=thread)
    assert "resolved" in world.staff_messages(thread)[-1]["text"]


async def test_staff_forum_person_ends_with_the_button(world: World) -> None:
    await world.duty_on()
    waiting = await world.ask_for_person()
    world.api.press_button(PERSON, END, waiting.message_id)
    [ended] = await world.api.wait_for_messages(PERSON, 1)
    assert "conversation with the counsellor has ended" in ended.text
    await world.wait(lambda: world.api.topics(STAFF)[world.thread()].closed, "the topic closed")
    assert "the person ended the conversation" in world.staff_messages(world.thread())[-1]["text"]


async def test_staff_forum_topic_deleted_by_hand_is_recreated(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    old = world.thread()
    world.api.delete_topic_by_hand(STAFF, old)
    world.api.send_text(PERSON, "are you there?")

    def copied_in_new_topic() -> bool:
        new = world.thread()
        return new != old and any(m.get("text") == "are you there?" for m in world.staff_messages(new))

    await world.wait(copied_in_new_topic, "a new topic with the copy")
    assert world.api.topics(STAFF)[world.thread()].name == world.api.topics(STAFF)[old].name


async def test_staff_forum_forget_mid_ticket_deletes_the_topic_and_staff_see_only_the_number(
    world: World,
) -> None:
    await world.duty_on()
    await world.ask_for_person()
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    thread = world.thread()
    world.api.send_command(PERSON, "/forget")
    [question] = await world.api.wait_for_messages(PERSON, 1)
    world.api.press_button(PERSON, FORGET_YES, question.message_id)
    await world.api.wait_for_messages(PERSON, 1)
    await world.wait(lambda: world.api.topics(STAFF)[thread].deleted, "the topic deleted")
    await world.wait(lambda: any(m["text"] == f"Ticket {ticket.id}: the person deleted their data."
                                 for m in world.staff_messages(None)), "the notice in General")  # fmt: skip
    assert world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}") is None
    assert world.services.handoff.tickets.pending_cleanups() == []


async def test_staff_forum_long_wait_is_mentioned_once_in_general(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    world.clock.advance(timedelta(minutes=11))
    mention = f"Ticket {ticket.id} ({ticket.reference}, en) has been waiting for more than 10 minutes."
    await world.wait(lambda: any(m["text"] == mention for m in world.staff_messages(None)), "the mention")
    await asyncio.sleep(6)  # one more run of the job
    assert [m["text"] for m in world.staff_messages(None)].count(mention) == 1


async def test_staff_forum_queue_and_stats_in_general(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.staff_says(ANNA, "/queue")
    assert "live conversation: 0 min, waiting" in world.staff_messages(None)[-1]["text"]
    await world.staff_says(ANNA, "/stats")
    assert world.staff_messages(None)[-1]["text"].startswith("Today: 1 tickets")


async def test_staff_forum_booking_appears_as_a_ticket_in_the_persons_topic(world: World) -> None:
    bookings = world.services.bookings
    slot = bookings.add_slot(CONTENT_DAY + timedelta(days=2), 30, "phone", ("fa",))
    booking = bookings.book(f"tg:{PERSON}", slot.id, "fa", phone="+32470123456", topics=("documents",))
    await world.services.booking_desk.board.post(booking_card("new", booking, KEY))
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.kind == "meeting" and ticket.booking_id == booking.id
    card = world.card()
    assert "meeting" in card["text"] and "Meeting topics: documents" in card["text"]
    assert "Phone: +32470123456" in card["text"]
    assert world.api.topics(STAFF)[world.thread()].name == f"{ticket.reference} · fa"


async def test_staff_forum_person_who_blocked_the_assistant_is_marked_and_staff_told(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    world.api.block_bot(PERSON)
    thread = world.thread()
    world.api.send_forum_text(STAFF, ANNA, "hello?", thread_id=thread)
    await world.wait(lambda: "blocked the assistant" in world.staff_messages(thread)[-1].get("text", ""),
                     "staff told")  # fmt: skip
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.blocked
    assert world.services.handoff.tickets.pending_relays() == []


async def test_staff_forum_other_groups_and_general_are_never_relayed(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)
    world.api.send_forum_text(STAFF, ANNA, "chat among staff")  # General
    world.api.send_group_text(-100555, ANNA, "/claim 1", chat_type="supergroup")
    await asyncio.sleep(1)
    assert world.api.messages_to(PERSON)[-1].text.startswith("A counsellor is with you")
    assert world.api.messages_to(-100555) == []


# -- with Rasa: the person's Farsi conversation, and the assistant answering again --------------


async def test_staff_forum_farsi_conversation_then_the_assistant_answers_again(
    tmp_path: Path, rasa_url: str
) -> None:
    async with running_world(tmp_path, rasa_url) as world:
        await world.duty_on()
        await world.ask_for_person(language="fa")
        await world.press_card(ANNA, "c")
        await world.api.wait_for_messages(PERSON, 1)
        thread = world.thread()
        world.api.send_text(PERSON, "پاسپورت ندارم، چه کار کنم؟", language_code="fa")
        await world.wait(lambda: world.staff_messages(thread)[-1].get("text") == "پاسپورت ندارم، چه کار کنم؟",
                         "the Farsi copy")  # fmt: skip
        await world.staff_says(ANNA, "/resolve", thread=thread)
        await world.api.wait_for_messages(PERSON, 1)
        world.api.send_text(PERSON, "بلیت هواپیما رو کی میده؟", language_code="fa")
        [answer] = await world.api.wait_for_messages(PERSON, 1, timeout=20)
        assert answer.method == "sendMessage" and answer.text != "بلیت هواپیما رو کی میده؟"
        assert len(world.staff_messages(thread)) == len(world.staff_messages(thread))  # nothing new relayed
