"""Who is staff (group members, cached for minutes, narrowed by STAFF_USER_IDS), forgeries, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FixedClock
from bot.handoff.settings import HandoffSettings
from bot.handoff.staff import StaffDirectory
from bot.handoff.store import HandoffStore
from bot.settings import SettingsError
from bot.store.db import Store

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
KEY = "a-test-key-of-enough-length"


class Membership:
    """Stands in for Telegram's getChatMember: who is in the group, and how often it was asked."""

    def __init__(self, members: set[int]) -> None:
        self.members = members
        self.asked: list[int] = []

    async def __call__(self, user_id: int) -> bool:
        self.asked.append(user_id)
        return user_id in self.members


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def handoff(store: Store, clock: FixedClock) -> HandoffStore:
    return HandoffStore(store, clock)


async def test_membership_is_cached_until_it_expires(handoff: HandoffStore, clock: FixedClock) -> None:
    telegram = Membership({501})
    directory = StaffDirectory(telegram, handoff, ttl=timedelta(minutes=5))
    assert await directory.is_staff(501)
    assert await directory.is_staff(501)
    assert telegram.asked == [501]
    telegram.members.clear()  # removed from the group
    clock.advance(timedelta(minutes=4, seconds=59))
    assert await directory.is_staff(501)  # still cached
    clock.advance(timedelta(seconds=1))
    assert not await directory.is_staff(501)
    assert telegram.asked == [501, 501]


async def test_a_member_update_drops_the_cached_answer(handoff: HandoffStore) -> None:
    telegram = Membership(set())
    directory = StaffDirectory(telegram, handoff)
    assert not await directory.is_staff(501)
    telegram.members.add(501)
    directory.forget_member(501)  # Telegram said they joined
    assert await directory.is_staff(501)


async def test_staff_user_ids_narrow_the_members_without_asking_telegram(handoff: HandoffStore) -> None:
    telegram = Membership({501, 502})
    directory = StaffDirectory(telegram, handoff, allowed_ids=frozenset({501}))
    assert await directory.is_staff(501)
    assert not await directory.is_staff(502)
    assert telegram.asked == [501]


async def test_a_forged_staff_action_is_refused_and_audited(handoff: HandoffStore) -> None:
    directory = StaffDirectory(Membership({501}), handoff)
    assert await directory.authorise(501, "claim", ticket_id=3, where="button")
    assert not await directory.authorise(666, "claim", ticket_id=3, where="button")
    assert not await directory.authorise(667, "queue", where="private chat")
    entries = handoff.audit()
    assert [(e.action, e.staff_id, e.ticket_id, e.detail) for e in entries] == [
        ("forged_attempt", 666, 3, "claim in button"),
        ("forged_attempt", 667, None, "queue in private chat"),
    ]


async def test_a_failed_membership_check_is_not_cached(handoff: HandoffStore) -> None:
    calls = 0

    async def flaky(user_id: int) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("Telegram did not answer")
        return True

    directory = StaffDirectory(flaky, handoff)
    with pytest.raises(ConnectionError):
        await directory.is_staff(501)
    assert await directory.is_staff(501)
    assert handoff.audit() == []  # a failed check is not a forged attempt


# -- settings --------------------------------------------------------------------------------


def test_settings_defaults_need_no_variable() -> None:
    settings = HandoffSettings.from_env({})
    assert settings.staff_chat_id is None and not settings.routing.enabled
    assert (settings.staff_language, settings.wait_mention_minutes, settings.retention_days) == ("en", 10, 30)
    assert settings.staff_user_ids is None
    assert settings.reference_maker() is None


def test_settings_read_every_variable() -> None:
    settings = HandoffSettings.from_env({
        "STAFF_CHAT_ID": "-1001234567890", "STAFF_USER_IDS": "12, 34", "STAFF_LANGUAGE": "FR",
        "WAIT_MENTION_MINUTES": "15", "HANDOFF_RETENTION_DAYS": "60", "PSEUDONYM_KEY": KEY,
        "STAFF_GROUPS_BY_LANGUAGE": "fa=-1009999999999",
    })  # fmt: skip
    assert settings.routing.chat_for("fa") == -1009999999999
    assert settings.routing.chat_for("fr") == -1001234567890
    assert settings.routing.chat_ids == frozenset({-1009999999999, -1001234567890})
    assert settings.staff_user_ids == frozenset({12, 34})
    assert (settings.staff_language, settings.wait_mention_minutes, settings.retention_days) == ("fr", 15, 60)
    make = settings.reference_maker()
    assert make is not None and make("1001") == make("1001") != make("1002")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STAFF_CHAT_ID": "staff", "PSEUDONYM_KEY": KEY}, "STAFF_CHAT_ID"),
        ({"STAFF_CHAT_ID": "1234567"}, "STAFF_CHAT_ID"),
        ({"STAFF_CHAT_ID": "-1001234567890"}, "PSEUDONYM_KEY"),
        ({"STAFF_CHAT_ID": "-1001234567890", "PSEUDONYM_KEY": "short"}, "PSEUDONYM_KEY"),
        ({"STAFF_USER_IDS": "12,bob"}, "STAFF_USER_IDS"),
        ({"STAFF_USER_IDS": ","}, "STAFF_USER_IDS"),
        ({"STAFF_LANGUAGE": "fa"}, "STAFF_LANGUAGE"),
        ({"WAIT_MENTION_MINUTES": "0"}, "WAIT_MENTION_MINUTES"),
        ({"HANDOFF_RETENTION_DAYS": "a month"}, "HANDOFF_RETENTION_DAYS"),
        ({"STAFF_GROUPS_BY_LANGUAGE": "fa:-1009999999999", "PSEUDONYM_KEY": KEY}, "language=group"),
        ({"STAFF_GROUPS_BY_LANGUAGE": "de=-1009999999999", "PSEUDONYM_KEY": KEY}, "not a language"),
        ({"STAFF_GROUPS_BY_LANGUAGE": "fa=-1009999999999", "PSEUDONYM_KEY": KEY}, "without a staff group"),
    ],
)
def test_settings_reject_bad_values_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        HandoffSettings.from_env(env)
