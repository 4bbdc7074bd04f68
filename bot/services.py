"""The assistant's services, created once from settings and shared by every front-end."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.content.library import ContentLibrary
from bot.dialogue.core import Dialogue, Policy
from bot.nlu.cache import CachedNLU
from bot.nlu.client import NLUClient
from bot.nlu.resilient import ResilientNLU
from bot.settings import Settings
from bot.store.db import Store


@dataclass(slots=True)
class Services:
    """Content, store, understanding and the dialogue that uses them."""

    settings: Settings
    library: ContentLibrary
    store: Store
    nlu_client: NLUClient
    dialogue: Dialogue

    @classmethod
    def create(cls, settings: Settings, nlu_url: str, *, clock: Clock | None = None) -> Services:
        """Open the store and catalogs and connect to the NLU server at `nlu_url`."""
        library = ContentLibrary(settings.locales_dir, clock=clock, serve_drafts=settings.serve_draft_answers)
        store = Store.open(settings.database_path, clock=clock)
        client = NLUClient(nlu_url, timeout=settings.nlu_timeout)
        dialogue = Dialogue(
            library,
            CachedNLU(ResilientNLU(client), max_entries=settings.nlu_cache_size),
            store,
            default_language=settings.default_language,
            policy=Policy(
                messages_per_minute=settings.user_messages_per_minute,
                retention_days=settings.retention_days,
            ),
        )
        return cls(settings, library, store, client, dialogue)

    async def aclose(self) -> None:
        """Close connections and the database."""
        await self.nlu_client.aclose()
        self.store.close()
