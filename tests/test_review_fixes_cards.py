"""Review R2's NICE findings on what staff see, end to end: the fake forum, a real Application, SQLite.

A person removed by retention is not reported as having deleted their data, and the phone
number on a ticket's card goes from Telegram when the database erases it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_staff_forum import PERSON, STAFF, World, running_world


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
