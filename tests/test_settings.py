"""Settings from the environment, and .env.example kept in step with them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bot.settings import DEFAULT_TELEGRAM_BASE_URL, PROJECT_ROOT, Settings, SettingsError

TOKEN = "123456789:AAHfake-token-with-enough-characters"


def test_settings_defaults_run_the_console_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.telegram_bot_token is None
    assert settings.telegram_base_url == DEFAULT_TELEGRAM_BASE_URL
    assert settings.rasa_url is None
    assert settings.default_language == "en"
    assert settings.nlu_cache_size == 5000


def test_settings_read_every_variable() -> None:
    settings = Settings.from_env({
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": "http://127.0.0.1:8081/bot/",
        "RASA_URL": "http://127.0.0.1:5005", "DATABASE_PATH": "/tmp/x.db", "DEFAULT_LANGUAGE": "FA",
        "USER_MESSAGES_PER_MINUTE": "5", "WEBHOOK_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "s3cret-s3cret-s3cret", "NLU_CACHE_SIZE": "0",
    })  # fmt: skip
    assert settings.require_token() == TOKEN
    assert settings.telegram_base_url == "http://127.0.0.1:8081/bot"
    assert settings.database_path == Path("/tmp/x.db")
    assert (settings.default_language, settings.user_messages_per_minute) == ("fa", 5)
    assert settings.webhook_url == "https://bot.example.org"
    assert settings.nlu_cache_size == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"RASA_URL": "localhost:5005"}, "RASA_URL"),
        ({"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE"),
        ({"USER_MESSAGES_PER_MINUTE": "many"}, "USER_MESSAGES_PER_MINUTE"),
        ({"WEBHOOK_URL": "http://insecure.example.org"}, "https://"),
        ({"WEBHOOK_URL": "https://bot.example.org"}, "WEBHOOK_SECRET"),
        ({"NLU_TIMEOUT": "0"}, "NLU_TIMEOUT"),
        ({"NLU_CACHE_SIZE": "-1"}, "NLU_CACHE_SIZE"),
        ({"SERVE_DRAFT_ANSWERS": "maybe"}, "SERVE_DRAFT_ANSWERS"),
        ({"JOBS_INTERVAL_SECONDS": "0"}, "JOBS_INTERVAL_SECONDS"),
        ({"OFFICE_HOURS": "weekdays"}, "OFFICE_HOURS"),
        ({"CLOSED_DAYS": "Christmas"}, "CLOSED_DAYS"),
        ({"REMINDER_HOURS": "24,24"}, "REMINDER_HOURS"),
        ({"HOLD_MINUTES": "90"}, "HOLD_MINUTES"),
        ({"BOOKING_RETENTION_DAYS": "-1"}, "BOOKING_RETENTION_DAYS"),
        ({"STAFF_CHAT_ID": "staff"}, "STAFF_CHAT_ID"),
        ({"STAFF_CHAT_ID": "-1001234567890"}, "PSEUDONYM_KEY must be set"),
        ({"PSEUDONYM_KEY": "short"}, "PSEUDONYM_KEY"),
    ],
)
def test_settings_reject_bad_values_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_carry_the_booking_settings_read_at_start() -> None:
    settings = Settings.from_env({
        "OFFICE_HOURS": "Mon-Thu 09:00-12:00", "CLOSED_DAYS": "2026-12-25", "REMINDER_HOURS": "2,48",
        "HOLD_MINUTES": "5", "BOOKING_RETENTION_DAYS": "7", "STAFF_CHAT_ID": "-1001234567890",
        "PSEUDONYM_KEY": "k" * 32, "DESKS_FILE": "/tmp/desks.toml", "JOBS_INTERVAL_SECONDS": "2.5",
    })  # fmt: skip
    booking = settings.booking
    assert booking.reminder_hours == (48, 2)
    assert (booking.hold_minutes, booking.retention_days) == (5, 7)
    assert (booking.staff_chat_id, booking.pseudonym_key) == (-1001234567890, "k" * 32)
    assert booking.desks_file == Path("/tmp/desks.toml")
    assert settings.jobs_interval_seconds == 2.5
    defaults = Settings.from_env({})
    assert defaults.booking.staff_chat_id is None and defaults.booking.reminder_hours == (24, 2)
    assert defaults.jobs_interval_seconds == 30


def test_settings_without_token_explain_how_to_get_one() -> None:
    with pytest.raises(SettingsError, match="BotFather"):
        Settings.from_env({}).require_token()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", False), ("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("false", False),
     ("no", False), ("OFF", False)],
)  # fmt: skip
def test_settings_serve_draft_answers_is_off_unless_turned_on(raw: str, expected: bool) -> None:
    assert Settings.from_env({"SERVE_DRAFT_ANSWERS": raw}).serve_draft_answers is expected
    assert Settings.from_env({}).serve_draft_answers is False


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("Settings must look names up, not list the environment")

    def __len__(self) -> int:
        return len(self._values)


def names_read_by_settings() -> set[str]:
    """Return every variable Settings.from_env reads, with webhook mode on so none is skipped."""
    env = RecordingEnv({
        "TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "s3cret-s3cret-s3cret",
    })  # fmt: skip
    Settings.from_env(env)
    return env.read


def test_env_example_lists_exactly_the_settings_that_settings_read() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^#? ?([A-Z][A-Z0-9_]*)=", text))
    assert listed == names_read_by_settings()


def test_recording_env_sees_a_new_setting() -> None:
    env = RecordingEnv({})
    Settings.from_env(env)
    assert {"TELEGRAM_BOT_TOKEN", "SERVE_DRAFT_ANSWERS", "LOG_LEVEL"} <= env.read
