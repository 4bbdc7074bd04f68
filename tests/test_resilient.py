"""Degradation around the NLU: down only after repeated failures or a refused connection; it recovers."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from bot.nlu.client import IntentScore, NLUClient, NLUUnavailable, NLUUnreachable, Prediction
from bot.nlu.resilient import ResilientNLU

ANSWER = Prediction("greet", 0.9, "en", (IntentScore("greet", 0.9),))


class FlakyNLU:
    """Fails with the queued errors, one per call, then answers; counts the calls."""

    def __init__(self) -> None:
        self.errors: list[NLUUnavailable] = []
        self.calls = 0

    async def parse(self, text: str) -> Prediction:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ANSWER


class Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timeouts(n: int) -> list[NLUUnavailable]:
    return [NLUUnavailable("the NLU service did not answer in time") for _ in range(n)]


async def fails(nlu: ResilientNLU) -> bool:
    try:
        await nlu.parse("hello")
    except NLUUnavailable:
        return True
    return False


async def test_resilient_one_time_out_does_not_declare_the_service_down() -> None:
    inner = FlakyNLU()
    nlu = ResilientNLU(inner, timer=Timer())
    inner.errors = timeouts(1)
    assert await fails(nlu)  # this message's own failure
    assert not nlu.is_down
    assert await nlu.parse("hello") == ANSWER  # the next message is asked, and answered
    assert inner.calls == 2


async def test_resilient_failures_that_are_not_consecutive_never_add_up() -> None:
    inner = FlakyNLU()
    nlu = ResilientNLU(inner, failures_before_down=3, timer=Timer())
    for _ in range(5):
        inner.errors = timeouts(2)
        assert await fails(nlu) and await fails(nlu)
        assert await nlu.parse("hello") == ANSWER
    assert not nlu.is_down


async def test_resilient_consecutive_failures_declare_it_down_and_calls_fail_fast() -> None:
    inner = FlakyNLU()
    nlu = ResilientNLU(inner, failures_before_down=3, retry_after=5, timer=Timer())
    inner.errors = timeouts(3)
    for _ in range(3):
        assert await fails(nlu)
    assert nlu.is_down
    assert await fails(nlu)  # fails at once, without asking the service
    assert inner.calls == 3


async def test_resilient_refused_connection_declares_it_down_at_once() -> None:
    inner = FlakyNLU()
    nlu = ResilientNLU(inner, failures_before_down=3, timer=Timer())
    inner.errors = [NLUUnreachable("nothing answers")]
    assert await fails(nlu)
    assert nlu.is_down
    assert await fails(nlu)
    assert inner.calls == 1


async def test_resilient_probes_once_per_pause_and_recovers_by_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner, timer = FlakyNLU(), Timer()
    nlu = ResilientNLU(inner, retry_after=5, timer=timer)
    inner.errors = [NLUUnreachable("nothing answers"), NLUUnreachable("still nothing")]
    with caplog.at_level(logging.WARNING, logger="bot.nlu.resilient"):
        assert await fails(nlu)
        timer.now = 4.9
        assert await fails(nlu)
        assert inner.calls == 1  # not asked before the pause is over
        timer.now = 5.0
        assert await fails(nlu)  # the probe, which fails: another pause
        assert inner.calls == 2
        timer.now = 9.9
        assert await fails(nlu)
        assert inner.calls == 2
        timer.now = 10.0
        assert await nlu.parse("hello") == ANSWER  # the probe succeeds
        assert not nlu.is_down
        assert await nlu.parse("hello") == ANSWER
    assert inner.calls == 4
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unavailable" in message for message in messages) == 1  # logged once, not per call
    assert sum("is back" in message for message in messages) == 1


async def test_resilient_only_one_probe_goes_out_while_others_wait() -> None:
    gate = asyncio.Event()

    class SlowNLU(FlakyNLU):
        async def parse(self, text: str) -> Prediction:
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            await gate.wait()
            return ANSWER

    inner, timer = SlowNLU(), Timer()
    nlu = ResilientNLU(inner, retry_after=5, timer=timer)
    inner.errors = [NLUUnreachable("nothing answers")]
    assert await fails(nlu)
    timer.now = 5.0
    probe = asyncio.create_task(nlu.parse("hello"))
    await asyncio.sleep(0)
    assert await fails(nlu)  # while the probe is out, others still get the menu at once
    assert inner.calls == 2
    gate.set()
    assert await probe == ANSWER
    assert not nlu.is_down


async def test_resilient_rejects_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="failures_before_down"):
        ResilientNLU(FlakyNLU(), failures_before_down=0)


async def test_client_reports_a_refused_connection_as_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with NLUClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(NLUUnreachable):
            await client.parse("hello there")


async def test_client_reports_a_time_out_as_unavailable_not_unreachable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with NLUClient("http://127.0.0.1:9", transport=httpx.MockTransport(slow)) as client:
        with pytest.raises(NLUUnavailable) as raised:
            await client.parse("hello there")
    assert not isinstance(raised.value, NLUUnreachable)


async def test_client_real_refused_port_is_unreachable() -> None:
    """A loopback port where nothing listens: the operating system refuses the connection."""
    from bot.nlu.server import free_port

    async with NLUClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(NLUUnreachable):
            await client.parse("hello there")
