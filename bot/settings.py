"""The assistant's settings, read once from the environment and validated."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from bot.nlu.intents import LANGUAGES

if TYPE_CHECKING:
    from bot.booking.settings import BookingSettings
    from bot.handoff.settings import HandoffSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE = PROJECT_ROOT / "var" / "assistant.db"
DEFAULT_LOCALES = PROJECT_ROOT / "locales"
DEFAULT_MODELS = PROJECT_ROOT / "models"
DEFAULT_RASA_VENV = PROJECT_ROOT / ".venv-rasa"
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _url(name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, e.g. http://127.0.0.1:5005")
    return value.rstrip("/")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false (or 1/0, yes/no, on/off), not {raw!r}")


def _booking(env: Mapping[str, str]) -> BookingSettings:
    """Read the booking's settings (office hours, reminders, the staff chat, the desks file)."""
    # Imported here: bot.booking.settings builds on this module (PROJECT_ROOT, SettingsError).
    from bot.booking.settings import BookingSettings

    return BookingSettings.from_env(env)


def _default_booking() -> BookingSettings:
    return _booking({})


def _handoff(env: Mapping[str, str]) -> HandoffSettings:
    """Read the staff handoff's settings (staff groups, staff, the staff language, retention)."""
    # Imported here, like the booking's: bot.handoff.settings builds on this module.
    from bot.handoff.settings import HandoffSettings

    return HandoffSettings.from_env(env)


def _default_handoff() -> HandoffSettings:
    return _handoff({})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with defaults that run the console chat out of the box."""

    telegram_bot_token: str | None = None
    telegram_base_url: str = DEFAULT_TELEGRAM_BASE_URL
    rasa_url: str | None = None
    database_path: Path = DEFAULT_DATABASE
    default_language: str = "en"
    locales_dir: Path = DEFAULT_LOCALES
    models_dir: Path = DEFAULT_MODELS
    rasa_venv: Path = DEFAULT_RASA_VENV
    nlu_timeout: float = 2.0
    nlu_cache_size: int = 5000
    user_messages_per_minute: int = 20
    retention_days: int = 180
    outbound_messages_per_second: float = 30.0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_port: int = 8443
    webhook_listen: str = "127.0.0.1"
    log_level: str = "INFO"
    serve_draft_answers: bool = False
    """Serve answers no one has reviewed yet (a pilot may, knowingly; production waits)."""
    jobs_interval_seconds: float = 30.0
    """How often reminders and staff notices due in the database are sent (and once at start)."""
    booking: BookingSettings = field(default_factory=_default_booking)
    handoff: HandoffSettings = field(default_factory=_default_handoff)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings from `env` (the process environment by default)."""
        env = os.environ if env is None else env
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
        if token is not None and not _TOKEN.match(token):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then"
                " letters); copy it again from @BotFather"
            )
        language = env.get("DEFAULT_LANGUAGE", "en").strip().lower() or "en"
        if language not in LANGUAGES:
            raise SettingsError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        rasa_url = env.get("RASA_URL", "").strip()
        webhook = env.get("WEBHOOK_URL", "").strip()
        if webhook and not webhook.startswith("https://"):
            raise SettingsError("WEBHOOK_URL must start with https:// (Telegram requires TLS)")
        secret = env.get("WEBHOOK_SECRET", "").strip() or None
        if webhook and (secret is None or not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret)):
            raise SettingsError(
                "WEBHOOK_SECRET must be set with WEBHOOK_URL: 16 or more letters, digits, _ or -"
            )
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return cls(
            telegram_bot_token=token,
            telegram_base_url=_url(
                "TELEGRAM_BASE_URL", env.get("TELEGRAM_BASE_URL", "") or DEFAULT_TELEGRAM_BASE_URL
            ),
            rasa_url=_url("RASA_URL", rasa_url) if rasa_url else None,
            database_path=Path(env.get("DATABASE_PATH", "") or DEFAULT_DATABASE),
            default_language=language,
            locales_dir=Path(env.get("LOCALES_DIR", "") or DEFAULT_LOCALES),
            models_dir=Path(env.get("MODELS_DIR", "") or DEFAULT_MODELS),
            rasa_venv=Path(env.get("RASA_VENV", "") or DEFAULT_RASA_VENV),
            nlu_timeout=_number(env, "NLU_TIMEOUT", 2.0, 0.1, 30.0),
            nlu_cache_size=int(_number(env, "NLU_CACHE_SIZE", 5000, 0, 1_000_000)),
            user_messages_per_minute=int(_number(env, "USER_MESSAGES_PER_MINUTE", 20, 1, 600)),
            retention_days=int(_number(env, "RETENTION_DAYS", 180, 1, 3650)),
            outbound_messages_per_second=_number(env, "OUTBOUND_MESSAGES_PER_SECOND", 30, 1, 1000),
            webhook_url=webhook or None,
            webhook_secret=secret,
            webhook_port=int(_number(env, "WEBHOOK_PORT", 8443, 1, 65535)),
            webhook_listen=env.get("WEBHOOK_LISTEN", "127.0.0.1").strip() or "127.0.0.1",
            log_level=level,
            serve_draft_answers=_flag(env, "SERVE_DRAFT_ANSWERS", False),
            jobs_interval_seconds=_number(env, "JOBS_INTERVAL_SECONDS", 30, 0.2, 3600),
            booking=_booking(env),
            handoff=_handoff(env),
        )

    def require_token(self) -> str:
        """Return the bot token, or explain how to get one."""
        if self.telegram_bot_token is None:
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather, then"
                " `export TELEGRAM_BOT_TOKEN=...` (or put it in .env) and run `make run` again"
            )
        return self.telegram_bot_token
