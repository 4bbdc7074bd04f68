"""Settings from the environment. (The SQLite store's tests are in test_store.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_TELEGRAM_BASE_URL, Settings, SettingsError

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
    ],
)
def test_settings_reject_bad_values_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_without_token_explain_how_to_get_one() -> None:
    with pytest.raises(SettingsError, match="BotFather"):
        Settings.from_env({}).require_token()
