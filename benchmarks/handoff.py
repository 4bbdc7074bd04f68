"""`make bench-bot` (handoff run): live conversations relayed through one staff forum group.

Telegram lets a bot post about 20 messages a minute into one group, and every topic of the
staff forum shares that budget. This run measures what that means for live conversations:
N people write to their counsellors at once, each person's messages are copied into their
topic in the staff group, each counsellor's answers are copied back to the person.

What is real: the staff forum front-end (`StaffForum`: relay pairs noted, taken, copied with
`copyMessage`, marked delivered; the resume job), the handoff store on a SQLite file, the
HTTP between python-telegram-bot and the fake Bot API (`tests.fakebotapi.FakeBotApi`), which
enforces the per-group limit as Telegram does: over it, 429 with `retry_after`. The bot sends
through python-telegram-bot's `AIORateLimiter`, as `bot run` does.

What is simulated: time runs `--scale` times faster (default 12: one Telegram minute lasts
5 s), for both the fake's window and the bot's group limiter; `retry_after` stays a whole
number of real seconds (as Telegram's is), which at this scale overstates a 429's pause, so
the figures err on the slow side. Each person writes on average `--per-minute` messages a
minute (random gaps), each counsellor answers about one message in two. People and
counsellors are asyncio tasks that create their messages in the fake and hand them to the
front-end as its handlers do.

Checked at the end: every message copied exactly once, and in order per conversation (exit
status 1 otherwise). Reported: the relay delay (message written → copy delivered, in
Telegram seconds) per number of conversations, and the largest number of conversations for
which no relayed message waited more than 30 seconds. Writes reports/bench-handoff.json.

    .venv/bin/python -m benchmarks.handoff [--conversations 4,6,8,10,12] [--minutes 4] [--scale 12]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from telegram.ext import AIORateLimiter, ExtBot

from benchmarks.common import consoles, percentile, run_facts, write_report
from bot.booking.hours import OfficeHours
from bot.content.library import ContentLibrary
from bot.frontends.staff_forum import StaffForum
from bot.handoff.models import Actor, Ticket
from bot.handoff.service import Handoff
from bot.handoff.settings import HandoffSettings, StaffRouting
from bot.settings import DEFAULT_LOCALES, PROJECT_ROOT
from bot.store.db import Store
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi

REPORT_PATH = PROJECT_ROOT / "reports" / "bench-handoff.json"
STAFF = -1001000000099
GROUP_LIMIT = 20  # messages a minute into one group (Telegram's documented figure)
WAIT_LIMIT_SECONDS = 30.0
FIRST_PERSON = 10_000
FIRST_COUNSELLOR = 500


@dataclass
class Run:
    """What one number of conversations went through."""

    conversations: int
    written: dict[tuple[int, str, int], float] = field(default_factory=dict)
    """(ticket, direction, source message id) → real time written."""
    order: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    delays: list[float] = field(default_factory=list)
    copies: dict[tuple[int, str, int], int] = field(default_factory=lambda: defaultdict(int))
    delivered_order: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    rate_limited: int = 0


async def one_run(conversations: int, minutes: float, scale: float, per_minute: float, seed: int) -> Run:
    """Run `conversations` live conversations for `minutes` Telegram minutes; return what happened."""
    rng = random.Random(seed)
    run = Run(conversations)
    window = 60.0 / scale
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "handoff.db")
        settings = HandoffSettings(routing=StaffRouting(STAFF), pseudonym_key="bench-" + "k" * 26)
        handoff = Handoff(store, settings, OfficeHours.parse("Mon-Sun 00:00-24:00"))
        async with FakeBotApi(token=DEFAULT_TOKEN, group_rate_limit=(GROUP_LIMIT, window)) as api:
            counsellors = [FIRST_COUNSELLOR + n for n in range(conversations)]
            api.make_forum(STAFF, members=dict.fromkeys(counsellors, "member"))
            bot = ExtBot(
                DEFAULT_TOKEN,
                base_url=api.base_url,
                rate_limiter=AIORateLimiter(
                    group_max_rate=GROUP_LIMIT, group_time_period=window, max_retries=3
                ),
            )
            library = ContentLibrary(DEFAULT_LOCALES)
            await bot.initialize()
            forum = StaffForum(bot, handoff, library)
            tickets: list[Ticket] = []
            for n in range(conversations):
                handoff.tickets.set_duty(counsellors[n], f"C{n}", True, STAFF)
                request = handoff.ask_for_person(f"tg:{FIRST_PERSON + n}", "fa")
                assert request.ticket is not None
                ticket = handoff.tickets.claim(request.ticket.id, Actor(counsellors[n], f"C{n}"))
                tickets.append(ticket)
            # The cards and topics come first, as when the conversations opened (the group's
            # budget is shared with them); the measured part starts once they are posted.
            await asyncio.gather(*(forum.post_card(ticket) for ticket in tickets))
            topics = {t.id: handoff.tickets.topic_of(t.user_id, STAFF) for t in tickets}

            delivered: set[tuple[int, str, int]] = set()
            writers: set[asyncio.Task[None]] = set()  # kept, so that none is collected half-way
            written_all = asyncio.Event()
            stop_at = time.monotonic() + minutes * window
            resume_every = 5.0 / scale

            async def resume_job() -> None:
                while time.monotonic() < stop_at + 30 * window:
                    await forum.resume()
                    await asyncio.sleep(resume_every)

            async def write(ticket: Ticket, direction: str) -> None:
                person = FIRST_PERSON + tickets.index(ticket)
                topic = topics[ticket.id]
                assert topic is not None
                if direction == "in":
                    message_id = api.send_text(person, "…")["message"]["message_id"]
                else:
                    message = api.send_forum_text(
                        STAFF, ticket.claimed_by or 0, "…", thread_id=topic.thread_id
                    )
                    message_id = message["message"]["message_id"]
                key = (ticket.id, direction, message_id)
                run.written[key] = time.monotonic()
                run.order[(ticket.id, direction)].append(message_id)
                if direction == "in":
                    await forum.relay_from_person(ticket, message_id)
                else:
                    await forum.relay_from_staff(ticket, message_id)

            async def conversation(ticket: Ticket) -> None:
                while time.monotonic() < stop_at:
                    await asyncio.sleep(rng.expovariate(per_minute) * window)
                    if time.monotonic() >= stop_at:
                        break
                    writers.add(asyncio.create_task(write(ticket, "in")))
                    if rng.random() < 0.5:
                        await asyncio.sleep(rng.uniform(0.2, 0.5) * window)
                        writers.add(asyncio.create_task(write(ticket, "out")))

            # Note each copy's delivery (its pair marked delivered in the database) as it happens.
            async def watch() -> None:
                while time.monotonic() < stop_at + 30 * window:
                    for key, written_at in list(run.written.items()):
                        if key in delivered:
                            continue
                        ticket_id, direction, source = key
                        pair = (
                            handoff.tickets.find_pair(ticket_id, person_message_id=source)
                            if direction == "in"
                            else handoff.tickets.find_pair(ticket_id, staff_message_id=source)
                        )
                        if pair is not None and pair.delivered:
                            delivered.add(key)
                            run.delivered_order[(ticket_id, direction)].append(source)
                            run.delays.append((time.monotonic() - written_at) * scale)
                    if written_all.is_set() and len(delivered) == len(run.written):
                        return
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            resumer = asyncio.create_task(resume_job())
            await asyncio.gather(*(conversation(ticket) for ticket in tickets))
            await asyncio.gather(*writers)
            written_all.set()
            await watcher
            resumer.cancel()
            await bot.shutdown()
            await api.close(grace=2)
            # Every copy Telegram accepted, counted by its source message: exactly once each?
            people = {ticket.id: FIRST_PERSON + n for n, ticket in enumerate(tickets)}
            accepted: defaultdict[tuple[int, int], int] = defaultdict(int)
            for call in api.calls:
                if call.method.lower() == "copymessage" and call.refusal is None and call.failure is None:
                    accepted[(int(call.params["from_chat_id"]), int(call.params["message_id"]))] += 1
            for ticket_id, direction, source in run.written:
                chat = people[ticket_id] if direction == "in" else STAFF
                run.copies[(ticket_id, direction, source)] = accepted[(chat, source)]
            run.rate_limited = api.rate_limited
        store.close()
    return run


def summarise(run: Run) -> dict[str, Any]:
    """Delays (Telegram seconds), exactly-once and order checks of one run."""
    delays = sorted(run.delays)
    once = all(run.copies.get(key, 0) == 1 for key in run.written)
    in_order = all(run.delivered_order[key] == ids for key, ids in run.order.items())
    return {
        "conversations": run.conversations,
        "messages": len(run.written),
        "to_staff_group": sum(1 for key in run.written if key[1] == "in"),
        "delivered_once": once,
        "in_order": in_order,
        "answered_429": run.rate_limited,
        "delay_p50_s": round(percentile(delays, 0.5), 1),
        "delay_p95_s": round(percentile(delays, 0.95), 1),
        "delay_max_s": round(delays[-1], 1) if delays else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", default="4,6,8,10,12", help="numbers of live conversations to try")
    parser.add_argument("--minutes", type=float, default=4.0, help="Telegram minutes per run")
    parser.add_argument("--scale", type=float, default=12.0, help="how much faster than real time")
    parser.add_argument("--per-minute", type=float, default=2.0, help="messages a person writes a minute")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    console, err = consoles()
    logging.basicConfig(level=logging.ERROR)
    results = []
    for count in (int(part) for part in args.conversations.split(",")):
        err.print(f"{count} conversations for {args.minutes:g} Telegram minutes …")
        run = asyncio.run(one_run(count, args.minutes, args.scale, args.per_minute, args.seed))
        results.append(summarise(run))
    table = Table(title="Live conversations through one staff group (20 messages a minute)")
    for column in (
        "conversations",
        "messages",
        "to group",
        "once",
        "in order",
        "429s",
        "p50 s",
        "p95 s",
        "max s",
    ):
        table.add_column(column, justify="right")
    for row in results:
        keys = ("conversations", "messages", "to_staff_group", "delivered_once", "in_order", "answered_429",
                "delay_p50_s", "delay_p95_s", "delay_max_s")  # fmt: skip
        table.add_row(*(str(row[key]) for key in keys))
    console.print(table)
    carried = [r["conversations"] for r in results if r["delay_max_s"] is not None
               and r["delay_max_s"] <= WAIT_LIMIT_SECONDS]  # fmt: skip
    most = max(carried) if carried else 0
    console.print(
        f"One staff group carries {most} live conversations (of those tried) before a relayed message waits"
        f" more than {WAIT_LIMIT_SECONDS:g} s, at {args.per_minute:g} messages a minute per person."
    )
    write_report(REPORT_PATH, {"facts": run_facts(), "args": vars(args), "runs": results,
                               "conversations_within_30s": most}, console)  # fmt: skip
    ok = all(r["delivered_once"] and r["in_order"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
