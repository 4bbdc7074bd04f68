"""Review R2's findings on the staff forum, end to end: the fake forum, a real Application and SQLite file.

Forged numbers, a stranger's staff command in a private chat, edits by someone who does not
hold the ticket, a staff group refusing a copy, and staff of one group acting on another's ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.frontends.staff_forum import default_alias
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi
from tests.telegram_world import running_assistant
from tests.test_staff_forum import (
    ANNA,
    BRAM,
    NO_NLU,
    PERSON,
    STAFF,
    STAFF_ENV,
    STRANGER,
    World,
    running_world,
)  # fmt: skip

FA_GROUP = -1002000000002
CYRUS = 503  # staff of the Farsi group only
HUGE = "9" * 20


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as running:
        yield running


def answered_more(world: World, before: int) -> bool:
    return len(world.api.calls_to("answerCallbackQuery")) > before


def forged(world: World) -> list[tuple[int | None, int | None, str | None]]:
    return [(e.staff_id, e.ticket_id, e.detail) for e in world.services.handoff.tickets.audit()
            if e.action == "forged_attempt"]  # fmt: skip


async def claimed(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    assert "You hold ticket" in await world.press_card(ANNA, "c")
    await world.api.wait_for_messages(PERSON, 1)


async def test_forum_forged_numbers_in_buttons_and_claim_get_an_answer_and_are_audited(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person()
    card = world.card()
    for number in ("²", HUGE):
        await world.staff_says(ANNA, f"/claim {number}")
        said = world.staff_messages(None)[-1]["text"]
        assert said == "Send /claim in a ticket's topic, or /claim NUMBER."
        before = len(world.api.calls_to("answerCallbackQuery"))
        world.api.press_button(STRANGER, f"hs:c:{number}", card["message_id"], chat_id=STAFF)
        await world.wait(partial(answered_more, world, before), "the answer")
    assert forged(world) == [(STRANGER, None, "button in other chat")] * 2
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and ticket.state == "waiting"


async def test_forum_stranger_staff_command_in_a_private_chat_is_answered_not_audited(world: World) -> None:
    await world.duty_on()
    await world.ask_for_person(user=PERSON)
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None
    for command in ("/stats", "/queue", f"/claim {ticket.id}"):
        world.api.send_command(STRANGER, command)
        await world.api.wait_for_messages(STRANGER, 1)
    assert forged(world) == []  # a stranger's Telegram id is never kept for this
    assert world.services.handoff.tickets.ticket(ticket.id).state == "waiting"


async def test_forum_edit_by_someone_who_no_longer_holds_the_ticket_is_not_followed(world: World) -> None:
    await claimed(world)
    thread = world.thread()
    sent = world.api.send_forum_text(STAFF, ANNA, "See you at 10", thread_id=thread)["message"]
    copy, _signature = await world.api.wait_for_messages(PERSON, 2)
    await world.staff_says(ANNA, "/release", thread=thread)
    await world.api.wait_for_messages(PERSON, 1)  # your counsellor had to leave
    world.api.edit_forum_text(STAFF, sent["message_id"], "Do not come")
    await world.staff_says(BRAM, "/claim", thread=thread)
    await world.api.wait_for_messages(PERSON, 1)  # a counsellor is with you
    world.api.edit_forum_text(STAFF, sent["message_id"], "Do not come at all")
    await asyncio.sleep(0.5)
    assert world.api.message(PERSON, copy.message_id)["text"] == "See you at 10"
    assert world.api.calls_to("editMessageText") == [] or all(
        call.get("chat_id") != PERSON for call in world.api.calls_to("editMessageText")
    )


async def test_forum_staff_group_refusing_a_copy_keeps_it_and_does_not_mark_the_person_blocked(
    world: World,
) -> None:
    await claimed(world)
    thread = world.thread()
    world.api.fail_next("copyMessage", 1, "blocked")  # the bot lost its right to post in the group
    world.api.send_text(PERSON, "are you there?")
    await world.wait(lambda: any(c.failure == "blocked" for c in world.api.calls), "the refusal")
    ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
    assert ticket is not None and not ticket.blocked
    await world.wait(lambda: any(m.get("text") == "are you there?" for m in world.staff_messages(thread)),
                     "the copy retried by the job", seconds=15)  # fmt: skip
    world.api.send_forum_text(STAFF, ANNA, "still here", thread_id=thread)
    copy, _ = await world.api.wait_for_messages(PERSON, 2)
    assert copy.text == "still here"


@contextlib.asynccontextmanager
async def two_groups(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        api.make_forum(STAFF, members={ANNA: "member", BRAM: "administrator"})
        api.make_forum(FA_GROUP, title="Staff fa", members={CYRUS: "member"})
        env = {**STAFF_ENV, "STAFF_GROUPS_BY_LANGUAGE": f"fa={FA_GROUP}"}
        async with running_assistant(api, tmp_path, NO_NLU, **env) as running:
            yield World(api, running.services, running.clock, running.app)


async def test_forum_staff_of_another_group_cannot_act_on_a_ticket(tmp_path: Path) -> None:
    async with two_groups(tmp_path) as world:
        world.api.send_forum_text(FA_GROUP, CYRUS, "/duty on")
        await world.wait(lambda: bool(world.api.messages_to(FA_GROUP)), "duty on")
        await world.ask_for_person(language="fa")
        ticket = world.services.handoff.tickets.open_ticket_of(f"tg:{PERSON}")
        assert ticket is not None and ticket.chat_id == FA_GROUP
        for command in (f"/claim {ticket.id}", f"/resolve {ticket.id}"):
            await world.staff_says(ANNA, command)
            assert world.staff_messages(None)[-1]["text"] == "Only staff of this group can do that."
        assert world.services.handoff.tickets.ticket(ticket.id).state == "waiting"
        assert [(staff, number) for staff, number, _ in forged(world)] == [(ANNA, ticket.id)] * 2
        before = len(world.api.messages_to(FA_GROUP))
        world.api.send_forum_text(FA_GROUP, CYRUS, f"/claim {ticket.id}")
        await world.wait(lambda: len(world.api.messages_to(FA_GROUP)) > before, "the claim's answer")
        held = world.services.handoff.tickets.ticket(ticket.id)
        assert held.state == "claimed" and held.claimed_alias == default_alias(CYRUS)
