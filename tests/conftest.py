"""Shared fixtures: a real Rasa server, real catalogs, a real SQLite store."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.nlu.server import RasaServer, latest_model
from bot.settings import DEFAULT_LOCALES, DEFAULT_MODELS, DEFAULT_RASA_VENV
from bot.store.db import Store


@pytest.fixture(scope="session")
def rasa_server() -> Iterator[RasaServer]:
    """A Rasa server on loopback, serving the trained model (started once per test run)."""
    server = RasaServer(latest_model(DEFAULT_MODELS), DEFAULT_RASA_VENV)
    server.start()
    try:
        asyncio.run(server.wait_ready())
        yield server
    finally:
        server.stop()


@pytest.fixture
def rasa_url(rasa_server: RasaServer) -> str:
    """The URL of the shared Rasa server."""
    return rasa_server.url


CONTENT_DAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
"""The day the repository's catalogs are served as of, in tests: never today's date."""


@pytest.fixture(scope="session")
def library() -> ContentLibrary:
    """The repository's own catalogs, drafts served (as `make chat` does), on a fixed day."""
    return ContentLibrary(DEFAULT_LOCALES, clock=FixedClock(CONTENT_DAY), serve_drafts=True)


@pytest.fixture
def locales_copy(tmp_path: Path) -> Path:
    """A writable copy of the repository's catalogs."""
    target = tmp_path / "locales"
    shutil.copytree(DEFAULT_LOCALES, target)
    return target


@pytest.fixture
def clock() -> FixedClock:
    """A clock that stands still at CONTENT_DAY (a test file may define its own `clock`)."""
    return FixedClock(CONTENT_DAY)


@pytest.fixture
def store(clock: FixedClock) -> Iterator[Store]:
    """An empty store in memory, migrated, on the test's `clock`."""
    store = Store(Database(memory=True), clock=clock)
    yield store
    store.close()


@pytest.fixture
def file_store(tmp_path: Path, clock: FixedClock) -> Iterator[Store]:
    """An empty store in a real SQLite file (WAL), on the test's `clock`."""
    store = Store.open(tmp_path / "assistant.db", clock=clock)
    yield store
    store.close()
