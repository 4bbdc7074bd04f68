"""Settings from the environment, and the SQLite store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import DEFAULT_TELEGRAM_BASE_URL, Settings, SettingsError
from bot.store.db import Store, migrations

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


def test_store_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    Store.open(path).close()
    store = Store.open(path)  # opening again applies nothing twice
    assert [m.name for m in migrations.applied(store.db)] == [m.name for m in migrations._migrations]
    assert migrations.pending(store.db) == []
    store.close()


def test_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = Store.open(path)
    store.save_user(store.load_user("tg:1").but(language="fa", language_chosen=True))
    store.close()
    reopened = Store.open(path)
    user = reopened.get_user("tg:1")
    assert user is not None and user.language == "fa" and user.language_chosen
    reopened.close()


def test_store_forget_deletes_the_user_and_only_them(file_store: Store) -> None:
    file_store.save_user(file_store.load_user("tg:1"))
    file_store.save_user(file_store.load_user("tg:2"))
    assert file_store.forget_user("tg:1") is True
    assert file_store.get_user("tg:1") is None and file_store.get_user("tg:2") is not None
    assert file_store.forget_user("tg:1") is False


def test_store_purges_users_not_seen_within_retention(store: Store) -> None:
    store.save_user(store.load_user("tg:old"))
    store.db.execute("UPDATE users SET last_seen_at = '2020-01-01T00:00:00+00:00' WHERE id = 'tg:old'")
    store.save_user(store.load_user("tg:new"))
    assert store.purge_inactive(timedelta(days=180)) == 1
    assert store.get_user("tg:old") is None and store.get_user("tg:new") is not None


def test_store_keeps_no_message_text(store: Store) -> None:
    columns = {column.name for column in store.db.table("users").columns}
    assert not columns & {"text", "message", "phone", "phone_number", "username", "first_name"}


def test_store_marks_blocked_users_inactive(store: Store) -> None:
    store.save_user(store.load_user("tg:1"))
    store.mark_inactive("tg:1")
    user = store.get_user("tg:1")
    assert user is not None and not user.active
