"""Graceful degradation around the NLU service: fail fast while it is down, log once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from bot.nlu.client import NLUUnavailable, Prediction

logger = logging.getLogger(__name__)


class Understanding(Protocol):
    """Anything that turns a message into a prediction (the NLU client, a test double)."""

    async def parse(self, text: str) -> Prediction:
        """Classify `text` or raise `NLUUnavailable`."""
        ...


class ResilientNLU:
    """Wraps an `Understanding`: after a failure, skip calls for `retry_after` seconds.

    Users then get the topic menu at once instead of waiting for another time-out; the
    first call after the pause probes the service, so answers resume by themselves.
    """

    def __init__(
        self,
        nlu: Understanding,
        *,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nlu = nlu
        self._retry_after = retry_after
        self._clock = clock
        self._down_until: float | None = None

    @property
    def is_down(self) -> bool:
        """Return whether the last call failed (and the service is presumed down)."""
        return self._down_until is not None

    async def parse(self, text: str) -> Prediction:
        """Classify `text`, or raise `NLUUnavailable` at once while the service is down."""
        if self._down_until is not None and self._clock() < self._down_until:
            raise NLUUnavailable("the NLU service is down (waiting before retrying)")
        try:
            prediction = await self._nlu.parse(text)
        except NLUUnavailable as error:
            if self._down_until is None:
                logger.error("NLU service unavailable, serving menus only: %s", error)
            self._down_until = self._clock() + self._retry_after
            raise
        if self._down_until is not None:
            logger.warning("NLU service is back; answering free text again")
            self._down_until = None
        return prediction
