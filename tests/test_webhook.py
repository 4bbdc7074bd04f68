"""Webhook mode end to end: the real Application's webhook server on loopback, the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.dialogue.replies import FORGET_YES
from bot.nlu.server import free_port
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotApi, JsonDict
from tests.telegram_world import buttons, running_assistant

USER = 31337
SECRET = "webhook-secret_0123456789"
PUBLIC_URL = "https://assistant.example.org/"


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[tuple[FakeBotApi, str]]:
    """The assistant receiving by webhook on a free loopback port; yields the fake and the local URL."""
    port = free_port()
    async with FakeBotApi(token=DEFAULT_TOKEN) as api:
        webhook = {"WEBHOOK_URL": PUBLIC_URL, "WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": str(port)}
        # Commands only: nothing asks the NLU.
        async with running_assistant(api, tmp_path, "http://127.0.0.1:9", **webhook):
            yield api, f"http://127.0.0.1:{port}/telegram"


async def post(url: str, update: JsonDict, secret: str | None) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.post(url, json=update, headers=headers)).status_code


async def test_webhook_is_set_with_the_secret(webhook: tuple[FakeBotApi, str]) -> None:
    api, _ = webhook
    [call] = api.calls_to("setWebhook")
    assert call["url"] == "https://assistant.example.org/telegram"
    assert call["secret_token"] == SECRET
    assert api.webhook_secret == SECRET
    assert not api.calls_to("getUpdates")


async def test_webhook_answers_an_update_with_the_right_secret(webhook: tuple[FakeBotApi, str]) -> None:
    api, url = webhook
    assert await post(url, api.send_command(USER, "/help"), SECRET) == 200
    [reply] = await api.wait_for_messages(USER, 1, timeout=10)
    assert reply.method == "sendMessage" and "/forget" in reply.text


@pytest.mark.parametrize("secret", ["wrong-secret_0123456789", "", None])
async def test_webhook_refuses_a_wrong_or_missing_secret_and_answers_nothing(
    webhook: tuple[FakeBotApi, str], secret: str | None
) -> None:
    api, url = webhook
    assert await post(url, api.send_command(USER, "/forget"), secret) == 403
    # Updates of one chat are handled in order: had the refused one been taken, its
    # question would come before the answer to this one.
    assert await post(url, api.send_command(USER, "/help"), SECRET) == 200
    [reply] = await api.wait_for_messages(USER, 1, timeout=10)
    assert "/forget" in reply.text and FORGET_YES not in buttons(reply)
    assert len(api.calls_to("sendMessage")) == 1
