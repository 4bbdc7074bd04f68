"""The installed `bot run`, killed with SIGKILL in the middle of a live conversation and started again.

The fake Bot API holds one copy unanswered (a time-out) while the process is killed: that copy
and a counsellor's message written meanwhile must each arrive exactly once after the restart,
in order, and the conversation then goes on to its end, after which the assistant answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.content.topics import COUNSELLOR
from bot.dialogue.replies import TOPIC
from bot.handoff.desk import LIVE
from bot.settings import PROJECT_ROOT
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi

PERSON = 4101
STAFF = -1001000000002
ANNA = 601


async def _until(predicate: Callable[[], bool], what: str, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _in_topic(api: FakeBotApi) -> list[dict[str, Any]]:
    """The bot's messages in the person's topic (the only topic), oldest first."""
    found = []
    for sent in api.messages_to(STAFF):
        with contextlib.suppress(KeyError):
            message = api.message(STAFF, sent.message_id)
            if message.get("message_thread_id") is not None and sent.method != "editMessageText":
                found.append(message)
    return found


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(PROJECT_ROOT / ".venv" / "bin" / "bot"), "run", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_staff_forum_kill_9_mid_conversation_loses_and_doubles_nothing(
    tmp_path: Path, rasa_url: str
) -> None:
    async with FakeBotApi(token=DEFAULT_TOKEN, timeout_hold=30) as api:
        api.make_forum(STAFF, members={ANNA: "member"})
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
               "DATABASE_PATH": str(tmp_path / "a.db"), "RASA_URL": rasa_url, "STAFF_CHAT_ID": str(STAFF),
               "PSEUDONYM_KEY": "k" * 32, "OFFICE_HOURS": "Mon-Sun 00:00-24:00",
               "SERVE_DRAFT_ANSWERS": "true"}  # fmt: skip
        for name in (
            "WEBHOOK_URL",
            "WEBHOOK_SECRET",
            "WEBHOOK_PORT",
            "WEBHOOK_LISTEN",
            "STAFF_GROUPS_BY_LANGUAGE",
        ):
            env.pop(name, None)
        processes: list[asyncio.subprocess.Process] = []
        try:
            processes.append(await _start(env))
            api.send_forum_text(STAFF, ANNA, "/duty on")
            await _until(lambda: any("on duty" in m.text for m in api.messages_to(STAFF)), "duty")
            api.send_command(PERSON, "/start", "fa")
            *_, menu = await api.wait_for_messages(PERSON, 3, timeout=60)
            api.press_button(PERSON, TOPIC + COUNSELLOR, menu.message_id)
            offer, _ = await api.wait_for_messages(PERSON, 2, timeout=30)
            api.press_button(PERSON, LIVE, offer.message_id)
            await api.wait_for_messages(PERSON, 1, timeout=30)
            await _until(lambda: any(m.get("reply_markup") for m in _in_topic(api)), "the card")
            card = next(m for m in _in_topic(api) if m.get("reply_markup"))
            api.press_button(ANNA, card["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
                             card["message_id"], chat_id=STAFF)  # fmt: skip
            await api.wait_for_messages(PERSON, 1, timeout=30)  # a counsellor is with you
            [thread] = api.topics(STAFF)
            api.send_text(PERSON, "یک", language_code="fa")
            await _until(lambda: any(m.get("text") == "یک" for m in _in_topic(api)), "the first copy")

            # A copy hangs (Telegram does not answer); the counsellor writes meanwhile; kill -9.
            api.fail_next("copyMessage", 1, "timeout")
            api.send_photo(PERSON)
            await _until(lambda: any(call.failure == "timeout" for call in api.calls), "the hanging copy")
            api.send_forum_text(STAFF, ANNA, "دو", thread_id=thread)
            await asyncio.sleep(1.0)
            processes[0].send_signal(signal.SIGKILL)
            await processes[0].wait()
            assert not any("photo" in m for m in _in_topic(api))

            processes.append(await _start(env))
            await _until(lambda: any("photo" in m for m in _in_topic(api)), "the photo after the restart")
            await _until(lambda: any(m.text == "دو" for m in api.messages_to(PERSON)), "the reply after it")
            api.send_forum_text(STAFF, ANNA, "/resolve", thread_id=thread)
            await _until(lambda: api.topics(STAFF)[thread].closed, "the topic closed")
            ended = api.messages_to(PERSON)[-1]
            api.send_text(PERSON, "بلیت هواپیما رو کی میده؟", language_code="fa")
            answered = lambda: api.messages_to(PERSON)[-1] is not ended  # noqa: E731
            await _until(answered, "the assistant's answer")
            assert api.messages_to(PERSON)[-1].method == "sendMessage"
            await asyncio.sleep(1.0)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    photos = [m for m in _in_topic(api) if "photo" in m]
    assert len(photos) == 1 and "forward_origin" not in photos[0]
    assert [m.get("text") for m in _in_topic(api)].count("یک") == 1
    assert [m.text for m in api.messages_to(PERSON)].count("دو") == 1
    texts = [m.get("text") for m in _in_topic(api)]
    assert texts.index("یک") < next(i for i, m in enumerate(_in_topic(api)) if "photo" in m)  # in order
    # Nothing the person wrote after the end went to staff.
    assert "بلیت هواپیما رو کی میده؟" not in texts
