"""The NLU answer cache: repeated texts skip the server; nothing stale, failed or unbounded."""

from __future__ import annotations

import pytest

from bot.nlu.cache import CachedNLU, cache_key
from bot.nlu.client import IntentScore, NLUUnavailable, Prediction


class CountingNLU:
    """Answers with the text's length as confidence and counts the calls; can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing = False

    async def parse(self, text: str) -> Prediction:
        self.calls.append(text)
        if self.failing:
            raise NLUUnavailable("down")
        return Prediction("greet", len(text) / 100, "fa", (IntentScore("greet", len(text) / 100),))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_the_same_text_is_parsed_once() -> None:
    inner = CountingNLU()
    cache = CachedNLU(inner)
    first = await cache.parse("salam")
    second = await cache.parse("salam")
    assert second == first
    assert inner.calls == ["salam"]
    assert (cache.hits, cache.misses) == (1, 1)


async def test_cache_texts_rasa_cannot_tell_apart_share_an_entry() -> None:
    inner = CountingNLU()
    cache = CachedNLU(inner)
    await cache.parse("می\u200cخوام برگردم")
    await cache.parse("میخوام برگردم")  # no zero-width non-joiner
    await cache.parse("مي\u200cخوام برگردم")  # Arabic-keyboard yeh
    assert len(inner.calls) == 1
    assert cache_key("Bonjour") == cache_key("bonjour")
    assert cache_key("bonjour") != cache_key("bonsoir")


async def test_cache_entries_expire() -> None:
    inner, clock = CountingNLU(), Clock()
    cache = CachedNLU(inner, ttl=60, timer=clock)
    await cache.parse("hoeveel geld")
    clock.now = 59
    await cache.parse("hoeveel geld")
    clock.now = 61
    await cache.parse("hoeveel geld")
    assert len(inner.calls) == 2


async def test_cache_the_least_recently_used_entry_goes_first() -> None:
    inner = CountingNLU()
    cache = CachedNLU(inner, max_entries=2)
    await cache.parse("a1")
    await cache.parse("b2")
    await cache.parse("a1")  # a1 is now the most recent
    await cache.parse("c3")  # evicts b2
    assert len(cache) == 2
    await cache.parse("a1")
    await cache.parse("b2")
    assert inner.calls == ["a1", "b2", "c3", "b2"]


async def test_cache_failures_are_not_kept() -> None:
    inner = CountingNLU()
    cache = CachedNLU(inner)
    inner.failing = True
    with pytest.raises(NLUUnavailable):
        await cache.parse("merci")
    inner.failing = False
    prediction = await cache.parse("merci")
    assert prediction.intent == "greet"
    assert len(inner.calls) == 2
    assert len(cache) == 1


async def test_cache_size_zero_turns_the_cache_off() -> None:
    inner = CountingNLU()
    cache = CachedNLU(inner, max_entries=0)
    await cache.parse("ok")
    await cache.parse("ok")
    assert len(inner.calls) == 2
    assert len(cache) == 0
