"""A small in-memory cache of NLU answers: the same words need not be parsed twice.

Many messages repeat word for word ("salam", "merci", "ok", "hoeveel geld?"), and each
parse costs the NLU server about 12 ms of CPU, which bounds how many users one server
serves. The cache keys on a hash of the normalised text (the text itself is not kept),
holds at most `max_entries` answers for `ttl` seconds (so a retrained model is picked up
within minutes), and never keeps a failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from cachetools import TTLCache

from bot.nlu.client import MAX_PARSE_CHARS, Prediction
from bot.nlu.normalize import normalize
from bot.nlu.resilient import Understanding


def cache_key(text: str) -> bytes:
    """What two messages that Rasa cannot tell apart share: their normalised text, hashed."""
    return hashlib.blake2b(normalize(text[:MAX_PARSE_CHARS]).encode(), digest_size=16).digest()


class CachedNLU:
    """Wraps an `Understanding` with a bounded, expiring LRU cache of its predictions."""

    def __init__(
        self,
        nlu: Understanding,
        *,
        max_entries: int = 5000,
        ttl: float = 600.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nlu = nlu
        self._max_entries = max_entries
        self._entries: TTLCache[bytes, Prediction] = TTLCache(max(max_entries, 1), ttl, timer=timer)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def parse(self, text: str) -> Prediction:
        """Return the cached prediction for this text, or ask the wrapped NLU and keep it."""
        if self._max_entries <= 0:
            return await self._nlu.parse(text)
        key = cache_key(text)
        cached = self._entries.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        prediction = await self._nlu.parse(text)  # NLUUnavailable propagates, nothing is kept
        self._entries[key] = prediction
        return prediction
