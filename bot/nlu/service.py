"""Finding the NLU service: the one at RASA_URL, or a local one started for the duration."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from bot.nlu.client import NLUClient
from bot.nlu.server import latest_model, running_server
from bot.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_LOCAL_URL = "http://127.0.0.1:5005"


@contextlib.asynccontextmanager
async def nlu_service(settings: Settings, *, require_configured: bool = False) -> AsyncIterator[str]:
    """Yield the URL of a ready NLU server, starting a local one when none answers.

    With RASA_URL set and `require_configured`, that server is used even while it is down
    (the assistant degrades, then recovers); otherwise a server that does not answer is
    replaced by a local one started from the latest model in models/.
    """
    url = settings.rasa_url or DEFAULT_LOCAL_URL
    if settings.rasa_url and require_configured:
        yield url
        return
    async with NLUClient(url, timeout=1.0) as probe:
        ready = await probe.is_ready()
    if ready:
        yield url
        return
    model = latest_model(settings.models_dir)
    logger.info("No NLU server at %s; starting one from %s", url, model.name)
    async with running_server(model, settings.rasa_venv) as server:
        yield server.url
