"""The per-user inbound limit: its verdicts, and memory that follows the last minute's users."""

from __future__ import annotations

import tracemalloc

import pytest

from bot.dialogue.limiter import InboundLimiter


class Timer:
    """A monotonic timer that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def timer() -> Timer:
    return Timer()


def test_limiter_allows_the_limit_then_warns_once_then_drops(timer: Timer) -> None:
    limiter = InboundLimiter(3, timer=timer)
    assert [limiter.check("tg:1") for _ in range(6)] == ["ok", "ok", "ok", "warn", "drop", "drop"]


def test_limiter_counts_each_user_apart(timer: Timer) -> None:
    limiter = InboundLimiter(1, timer=timer)
    assert limiter.check("tg:1") == "ok"
    assert limiter.check("tg:2") == "ok"
    assert limiter.check("tg:1") == "warn"


def test_limiter_window_slides_and_a_new_warning_comes_after_an_accepted_message(timer: Timer) -> None:
    limiter = InboundLimiter(2, timer=timer)
    assert limiter.check("tg:1") == "ok"  # t=0
    timer.now += 30
    assert limiter.check("tg:1") == "ok"  # t=30
    assert limiter.check("tg:1") == "warn"
    timer.now += 29.9
    assert limiter.check("tg:1") == "drop"  # t=59.9: both still within the minute
    timer.now += 0.1
    assert limiter.check("tg:1") == "ok"  # t=60: the first has left the window
    assert limiter.check("tg:1") == "warn"  # warned again: an accepted message came between


def test_limiter_forgets_a_user_idle_for_a_minute(timer: Timer) -> None:
    limiter = InboundLimiter(2, timer=timer)
    limiter.check("tg:1")
    limiter.check("tg:1")
    assert limiter.tracked_users == 1
    timer.now += 60
    assert limiter.tracked_users == 0
    assert limiter.check("tg:1") == "ok"


def test_limiter_warned_user_is_forgotten_a_minute_after_the_last_accepted_message(timer: Timer) -> None:
    limiter = InboundLimiter(1, timer=timer)
    limiter.check("tg:1")
    timer.now += 10
    assert limiter.check("tg:1") == "warn"
    timer.now += 49
    assert limiter.check("tg:1") == "drop"
    timer.now += 1
    assert len(limiter) == 0
    assert limiter.check("tg:1") == "ok"


def test_limiter_forget_drops_a_user(timer: Timer) -> None:
    limiter = InboundLimiter(1, timer=timer)
    limiter.check("tg:1")
    limiter.forget("tg:1")
    limiter.forget("tg:unknown")
    assert limiter.check("tg:1") == "ok"


def test_limiter_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        InboundLimiter(0)


def test_limiter_holds_nothing_of_100000_users_after_a_minute(timer: Timer) -> None:
    limiter = InboundLimiter(20, timer=timer, max_users=200_000)
    for n in range(100_000):
        assert limiter.check(f"tg:{n}") == "ok"
        timer.now += 0.0005  # 100,000 users over 50 seconds
    assert limiter.tracked_users == 100_000
    timer.now += 60
    assert limiter.tracked_users == 0
    assert limiter.check("tg:late") == "ok"
    assert limiter.tracked_users == 1


def test_limiter_memory_follows_the_last_minutes_users_not_all_users_ever(timer: Timer) -> None:
    """Six waves of 5,000 new users, a minute apart: memory stays that of one wave."""
    limiter = InboundLimiter(20, timer=timer)
    tracemalloc.start()
    try:
        peaks = []
        for wave in range(6):
            for n in range(5_000):
                limiter.check(f"tg:{wave}:{n}")
            peaks.append(tracemalloc.get_traced_memory()[0])
            assert limiter.tracked_users == 5_000  # this wave only: the one before is forgotten
            timer.now += 61
    finally:
        tracemalloc.stop()
    assert max(peaks[2:]) < 1.3 * peaks[1], peaks  # flat, not growing with every wave


def test_limiter_beyond_its_capacity_forgets_the_user_idle_longest(timer: Timer) -> None:
    limiter = InboundLimiter(1, timer=timer, max_users=2)
    limiter.check("tg:1")
    timer.now += 1
    limiter.check("tg:2")
    timer.now += 1
    limiter.check("tg:3")
    assert limiter.tracked_users == 2
    assert limiter.check("tg:3") == "warn" and limiter.check("tg:2") == "warn"
    assert limiter.check("tg:1") == "ok"  # forgotten: counted afresh
