"""The staff handoff's settings, read once from the environment and validated.

`STAFF_CHAT_ID` and `PSEUDONYM_KEY` are the same variables the booking reads: one staff
group and one key serve both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from bot.booking.settings import MIN_KEY_LENGTH
from bot.booking.staff import pseudonym
from bot.nlu.intents import LANGUAGES
from bot.settings import SettingsError

STAFF_LANGUAGES: Final = ("en", "fr", "nl")
DEFAULT_WAIT_MENTION_MINUTES: Final = 10
DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_AUDIT_RETENTION_DAYS: Final = 365
_CHAT_ID = re.compile(r"^-\d{5,}$")


@dataclass(frozen=True, slots=True)
class StaffRouting:
    """Which staff group serves which language: one group for all, or one per language.

    A language without its own group goes to the default group (`STAFF_CHAT_ID`).
    """

    default_chat_id: int | None = None
    by_language: Mapping[str, int] = field(default_factory=dict)

    def chat_for(self, language: str) -> int | None:
        """Return the staff group of a person writing in `language` (None: no staff group)."""
        return self.by_language.get(language, self.default_chat_id)

    @property
    def chat_ids(self) -> frozenset[int]:
        """Every staff group the assistant serves (it ignores all other groups)."""
        chats = set(self.by_language.values())
        if self.default_chat_id is not None:
            chats.add(self.default_chat_id)
        return frozenset(chats)

    @property
    def enabled(self) -> bool:
        """Whether any staff group is set up."""
        return bool(self.chat_ids)


@dataclass(frozen=True, slots=True)
class HandoffSettings:
    """Where staff work, who they are, and how long what they see is kept."""

    routing: StaffRouting = field(default_factory=StaffRouting)
    staff_user_ids: frozenset[int] | None = None
    """When set, only these Telegram users count as staff (and only while members of the group)."""
    staff_language: str = "en"
    wait_mention_minutes: int = DEFAULT_WAIT_MENTION_MINUTES
    retention_days: int = DEFAULT_RETENTION_DAYS
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS
    """Days an audit row (who did what to which ticket) is kept."""
    pseudonym_key: str | None = None

    @property
    def staff_chat_id(self) -> int | None:
        """The default staff group (`STAFF_CHAT_ID`)."""
        return self.routing.default_chat_id

    def reference_maker(self) -> Callable[[str], str] | None:
        """Return what turns a user id into the reference staff see (the booking's `pseudonym`), if keyed."""
        return None if self.pseudonym_key is None else partial(pseudonym, key=self.pseudonym_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HandoffSettings:
        """Read and validate the handoff's variables from `env` (the process environment by default)."""
        env = os.environ if env is None else env
        default_chat = _chat_id("STAFF_CHAT_ID", env.get("STAFF_CHAT_ID", "").strip())
        groups = _groups(env.get("STAFF_GROUPS_BY_LANGUAGE", "").strip())
        uncovered = [language for language in LANGUAGES if language not in groups]
        if groups and uncovered and default_chat is None:
            raise SettingsError(
                "STAFF_GROUPS_BY_LANGUAGE leaves " + ", ".join(uncovered) + " without a staff group;"
                " set STAFF_CHAT_ID for them or give each language a group"
            )
        language = env.get("STAFF_LANGUAGE", "en").strip().lower() or "en"
        if language not in STAFF_LANGUAGES:
            raise SettingsError(
                f"STAFF_LANGUAGE must be one of {', '.join(STAFF_LANGUAGES)}, not {language!r}"
            )
        key = env.get("PSEUDONYM_KEY", "").strip() or None
        routing = StaffRouting(default_chat, groups)
        if routing.enabled and (key is None or len(key) < MIN_KEY_LENGTH):
            raise SettingsError(
                f"PSEUDONYM_KEY must be set ({MIN_KEY_LENGTH} or more characters, secret) with a staff group:"
                " it makes the references staff see; generate one with `python -c 'import secrets;"
                " print(secrets.token_urlsafe(32))'`"
            )
        return cls(
            routing=routing,
            staff_user_ids=_user_ids(env.get("STAFF_USER_IDS", "").strip()),
            staff_language=language,
            wait_mention_minutes=_whole(
                env, "WAIT_MENTION_MINUTES", DEFAULT_WAIT_MENTION_MINUTES, 1, 24 * 60
            ),
            retention_days=_whole(env, "HANDOFF_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 3650),
            audit_retention_days=_whole(env, "AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS, 1, 3650),
            pseudonym_key=key,
        )


def _chat_id(name: str, raw: str) -> int | None:
    if not raw:
        return None
    if not _CHAT_ID.match(raw):
        raise SettingsError(
            f"{name} must be the staff supergroup's id, a negative number like -1001234567890, not {raw!r}"
        )
    return int(raw)


def _groups(raw: str) -> dict[str, int]:
    groups: dict[str, int] = {}
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        language, equals, chat = (text.strip() for text in part.partition("="))
        if not equals:
            raise SettingsError(
                f"STAFF_GROUPS_BY_LANGUAGE: {part!r} is not language=group, e.g. fa=-1001234567890"
            )
        language = language.lower()
        if language not in LANGUAGES:
            raise SettingsError(
                f"STAFF_GROUPS_BY_LANGUAGE: {language!r} is not a language of the assistant"
                f" ({', '.join(LANGUAGES)})"
            )
        if language in groups:
            raise SettingsError(f"STAFF_GROUPS_BY_LANGUAGE names {language} twice")
        chat_id = _chat_id(f"STAFF_GROUPS_BY_LANGUAGE ({language})", chat)
        assert chat_id is not None  # an empty id fails the pattern above
        groups[language] = chat_id
    return groups


def _user_ids(raw: str) -> frozenset[int] | None:
    if not raw:
        return None
    ids: set[int] = set()
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        if not part.isdigit():
            raise SettingsError(
                f"STAFF_USER_IDS must be Telegram user ids separated by commas, e.g. 12345,67890;"
                f" {part!r} is not one"
            )
        ids.add(int(part))
    if not ids:
        raise SettingsError(
            "STAFF_USER_IDS is set but names nobody; leave it empty to admit every group member"
        )
    return frozenset(ids)


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SettingsError(f"{name} must be a whole number, not {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return value
