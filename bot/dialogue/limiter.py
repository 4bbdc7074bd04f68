"""The per-user inbound limit: at most so many messages a minute, one polite warning, then silence.

What it holds is a cache of the last minute: a user idle for a minute is forgotten, so
memory follows the users active in the last minute, not every user ever seen, and each
message costs the same however many users came before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from cachetools import TTLCache

Verdict = Literal["ok", "warn", "drop"]

WINDOW_SECONDS = 60.0


class _Window:
    """When a user's accepted messages of the last minute arrived, and whether they were warned."""

    __slots__ = ("accepted", "warned")

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.warned = False


class InboundLimiter:
    """At most `per_minute` messages per user in any minute; one polite reply when the limit is hit.

    At most `max_users` users are tracked at once; beyond that, the one idle longest is
    forgotten first (the least likely to be over the limit).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        timer: Callable[[], float] = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._per_minute = per_minute
        self._timer = timer
        # An entry lives a minute after the user's last accepted message: by then every
        # message it counts has left the window, so forgetting it changes nothing.
        self._windows: TTLCache[str, _Window] = TTLCache(max_users, WINDOW_SECONDS, timer=timer)

    def check(self, user_id: str) -> Verdict:
        """Return "ok", "warn" (the first message over the limit) or "drop" (the ones after it)."""
        now = self._timer()
        window = self._windows.get(user_id) or _Window()
        accepted = window.accepted
        while accepted and now - accepted[0] >= WINDOW_SECONDS:
            del accepted[0]
        if len(accepted) < self._per_minute:
            accepted.append(now)
            window.warned = False
            self._windows[user_id] = window  # (re)starts the entry's minute
            return "ok"
        if window.warned:
            return "drop"
        window.warned = True
        return "warn"

    def forget(self, user_id: str) -> None:
        """Drop what the limiter holds about a user."""
        self._windows.pop(user_id, None)

    @property
    def tracked_users(self) -> int:
        """Return how many users the limiter holds now (those active in the last minute)."""
        return len(self._windows)

    def __len__(self) -> int:
        return self.tracked_users
