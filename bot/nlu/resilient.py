"""Graceful degradation around the NLU service: fail fast while it is down, log once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from bot.nlu.client import NLUUnavailable, NLUUnreachable, Prediction

logger = logging.getLogger(__name__)


class Understanding(Protocol):
    """Anything that turns a message into a prediction (the NLU client, a test double)."""

    async def parse(self, text: str) -> Prediction:
        """Classify `text` or raise `NLUUnavailable`."""
        ...


class ResilientNLU:
    """Wraps an `Understanding`: declares it down, then fails fast and probes until it is back.

    One time-out in a busy queue says little (the next message may well be answered), so
    the service is declared down only after `failures_before_down` consecutive failures, or
    at once when nothing listens at its address. While it is down, users get the topic menu
    at once instead of waiting for another time-out; every `retry_after` seconds one call
    goes through as a probe, and the first probe that succeeds brings answers back.
    """

    def __init__(
        self,
        nlu: Understanding,
        *,
        failures_before_down: int = 3,
        retry_after: float = 5.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_before_down < 1:
            raise ValueError("failures_before_down must be at least 1")
        self._nlu = nlu
        self._failures_before_down = failures_before_down
        self._retry_after = retry_after
        self._timer = timer
        self._failures = 0
        self._down_until: float | None = None

    @property
    def is_down(self) -> bool:
        """Return whether the service is presumed down (calls fail fast, but for probes)."""
        return self._down_until is not None

    async def parse(self, text: str) -> Prediction:
        """Classify `text`, or raise `NLUUnavailable` at once while the service is down."""
        if self._down_until is not None:
            if self._timer() < self._down_until:
                raise NLUUnavailable("the NLU service is down (waiting before probing it again)")
            # This call is the probe; the calls that arrive meanwhile still fail fast.
            self._down_until = self._timer() + self._retry_after
        try:
            prediction = await self._nlu.parse(text)
        except NLUUnavailable as error:
            self._failed(error)
            raise
        if self._down_until is not None:
            logger.warning("NLU service is back; answering free text again")
        self._failures = 0
        self._down_until = None
        return prediction

    def _failed(self, error: NLUUnavailable) -> None:
        self._failures += 1
        if self._down_until is not None:
            self._down_until = self._timer() + self._retry_after  # a failed probe: wait again
            return
        if isinstance(error, NLUUnreachable) or self._failures >= self._failures_before_down:
            logger.error("NLU service unavailable, serving menus only: %s", error)
            self._down_until = self._timer() + self._retry_after
