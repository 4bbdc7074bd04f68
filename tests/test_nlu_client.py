"""The async NLU client against real local HTTP servers that misbehave, and a real Rasa."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from bot.nlu.client import MAX_PARSE_CHARS, NLUClient, NLUUnavailable, Prediction
from bot.nlu.intents import FALLBACK_INTENT
from bot.nlu.server import free_port

Behaviour = Callable[[bytes], Awaitable[tuple[int, bytes]]]

PARSE = {
    "text": "hello",
    "intent": {"name": "greet", "confidence": 0.97},
    "intent_ranking": [
        {"name": "greet", "confidence": 0.97},
        {"name": "thanks", "confidence": 0.02},
        {"name": "goodbye", "confidence": 0.01},
    ],
    "language": "en",
}


class TinyServer:
    """A real HTTP/1.1 server on loopback whose answer to every request is `behaviour`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.bodies: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.bodies.append(body)
                status, payload = await self.behaviour(body)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def ok(body: bytes) -> tuple[int, bytes]:
    return 200, json.dumps(PARSE).encode()


async def test_nlu_client_parses_a_rasa_answer_into_a_typed_prediction() -> None:
    async with TinyServer(ok) as url, NLUClient(url) as client:
        prediction = await client.parse("hello")
    assert prediction.intent == "greet"
    assert prediction.confidence == pytest.approx(0.97)
    assert prediction.language == "en"
    assert [score.intent for score in prediction.ranking] == ["greet", "thanks", "goodbye"]


async def test_nlu_client_reuses_one_connection() -> None:
    server = TinyServer(ok)
    async with server as url, NLUClient(url) as client:
        for _ in range(5):
            await client.parse("hello")
    assert server.connections == 1


async def test_nlu_client_cuts_long_messages_before_sending() -> None:
    server = TinyServer(ok)
    async with server as url, NLUClient(url) as client:
        await client.parse("where is the office " * 300)
    assert len(json.loads(server.bodies[0])["text"]) == MAX_PARSE_CHARS


async def test_nlu_client_raises_unavailable_when_the_server_is_slow() -> None:
    async def slow(body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(2)
        return await ok(body)

    async with TinyServer(slow) as url, NLUClient(url, timeout=0.3) as client:
        with pytest.raises(NLUUnavailable, match="in time"):
            await client.parse("hello")


async def test_nlu_client_keeps_a_few_requests_in_flight_and_queues_the_rest() -> None:
    in_flight, most = 0, 0

    async def counted(body: bytes) -> tuple[int, bytes]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return await ok(body)

    server = TinyServer(counted)
    async with server as url, NLUClient(url, max_in_flight=2) as client:
        predictions = await asyncio.gather(*(client.parse("hello") for _ in range(10)))
    assert [p.intent for p in predictions] == ["greet"] * 10
    assert most == 2
    assert server.connections <= 2


async def test_nlu_client_counts_the_wait_in_the_queue_against_the_timeout() -> None:
    async def slow(body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(0.25)
        return await ok(body)

    async with TinyServer(slow) as url, NLUClient(url, timeout=0.4, max_in_flight=1) as client:
        started = asyncio.get_running_loop().time()
        first, second = await asyncio.gather(
            client.parse("hello"), client.parse("hello again"), return_exceptions=True
        )
        waited = asyncio.get_running_loop().time() - started
    assert isinstance(first, Prediction)
    assert isinstance(second, NLUUnavailable)  # 0.25 s queued + 0.25 s parse > 0.4 s
    assert waited < 0.6


async def test_nlu_client_raises_unavailable_on_a_server_error() -> None:
    async def error(body: bytes) -> tuple[int, bytes]:
        return 500, b'{"status": "failure"}'

    async with TinyServer(error) as url, NLUClient(url) as client:
        with pytest.raises(NLUUnavailable, match="500"):
            await client.parse("hello")


@pytest.mark.parametrize(
    "junk",
    [
        b"<html>not json</html>",
        b"[1, 2, 3]",
        b'{"intent": {"name": 5, "confidence": "high"}}',
        b'{"intent": {"name": "greet", "confidence": 7.5}}',
        b'{"intent": {"name": "greet", "confidence": 0.5}, "intent_ranking": "x"}',
    ],
)
async def test_nlu_client_raises_unavailable_on_junk(junk: bytes) -> None:
    async def garbage(body: bytes) -> tuple[int, bytes]:
        return 200, junk

    async with TinyServer(garbage) as url, NLUClient(url) as client:
        with pytest.raises(NLUUnavailable):
            await client.parse("hello")


async def test_nlu_client_raises_unavailable_when_nothing_listens() -> None:
    async with NLUClient(f"http://127.0.0.1:{free_port()}", timeout=0.5) as client:
        with pytest.raises(NLUUnavailable, match="unreachable"):
            await client.parse("hello")
        assert not await client.is_ready()


async def test_nlu_client_answers_blank_text_with_fallback_without_a_request() -> None:
    server = TinyServer(ok)
    async with server as url, NLUClient(url) as client:
        prediction = await client.parse("   ")
    assert prediction.intent == FALLBACK_INTENT
    assert server.bodies == []


async def test_nlu_client_parses_each_language_through_real_rasa(rasa_url: str) -> None:
    questions = {
        "en": "what money do i get when i leave",
        "fr": "slt je veux rentrer au pays, c gratuit le billet d'avion?",
        "nl": "hoeveel geld krijg ik als ik terugkeer naar mn land",
        "fa": "سلام، میخوام برگردم ایران، چیکار کنم؟",
    }
    async with NLUClient(rasa_url, timeout=5) as client:
        assert await client.is_ready()
        for language, question in questions.items():
            prediction = await client.parse(question)
            assert prediction.language == language, question
            assert prediction.ranking, question
            assert 0.0 <= prediction.confidence <= 1.0
