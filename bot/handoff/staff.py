"""Who counts as staff: members of the staff group (asked of Telegram, cached for minutes), maybe narrowed.

Every staff action is authorised on every use, buttons included (anyone can forge callback
data); an attempt by someone who is not staff does nothing and is written to the audit log.
The front-end supplies `is_member`, which asks Telegram (getChatMember) for one user.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final

from cachetools import TTLCache

from bot.clock import Clock
from bot.handoff.store import HandoffStore

log = logging.getLogger(__name__)

MEMBERSHIP_TTL: Final = timedelta(minutes=5)
_CACHE_SIZE: Final = 1024

IsMember = Callable[[int], Awaitable[bool]]
"""Asks Telegram whether a user is a member (creator, administrator or member) of the staff group.

Raises MembershipUnknown when Telegram cannot say (the answer is then not cached).
"""

IsMemberOf = Callable[[int, int], Awaitable[bool]]
"""Asks Telegram whether a user is a member of one staff group (user id, chat id)."""


class MembershipUnknown(Exception):
    """Telegram could not say whether the user is a member now (the bot removed, a network fault)."""


class StaffDirectory:
    """Decides, for each staff action, whether the Telegram user doing it is staff."""

    def __init__(
        self,
        is_member: IsMember,
        store: HandoffStore,
        clock: Clock | None = None,
        *,
        allowed_ids: frozenset[int] | None = None,
        ttl: timedelta = MEMBERSHIP_TTL,
        member_of: IsMemberOf | None = None,
    ) -> None:
        """`member_of`, when given, answers for one group: staff act only on their own group's tickets."""
        self._is_member = is_member
        self._member_of = member_of
        self.store = store
        self.clock = clock if clock is not None else store.clock
        self.allowed_ids = allowed_ids
        # The cache's timer is the injected clock, so tests move time instead of sleeping.
        self._members: TTLCache[int | tuple[int, int], bool] = TTLCache(
            maxsize=_CACHE_SIZE, ttl=ttl.total_seconds(), timer=lambda: self.clock.now().timestamp()
        )

    async def is_staff(self, user_id: int, chat_id: int | None = None) -> bool:
        """Return whether the user is staff now (allowed by STAFF_USER_IDS and a member of the group).

        With `chat_id` (and `member_of`), only that staff group counts. When Telegram cannot
        say (MembershipUnknown), the answer is no, and it is not cached: the next use asks again.
        """
        return await self._membership(user_id, chat_id) is True

    async def _membership(self, user_id: int, chat_id: int | None) -> bool | None:
        """Whether the user is staff; None when Telegram could not say."""
        if self.allowed_ids is not None and user_id not in self.allowed_ids:
            return False
        key: int | tuple[int, int] = user_id
        if chat_id is not None and self._member_of is not None:
            key = (user_id, chat_id)
        cached = self._members.get(key)
        if cached is not None:
            return cached
        # An error is not cached: the next use asks again.
        try:
            if isinstance(key, tuple) and self._member_of is not None:
                member = await self._member_of(user_id, key[1])
            else:
                member = await self._is_member(user_id)
        except MembershipUnknown:
            return None
        self._members[key] = member
        return member

    async def authorise(
        self,
        user_id: int,
        action: str,
        *,
        ticket_id: int | None = None,
        where: str | None = None,
        chat_id: int | None = None,
    ) -> bool:
        """Return whether the user may do a staff action; audit the attempt when they may not.

        `action` names what was tried ("claim", "resolve", "answer", "duty", "queue", ...),
        `where` where it came from ("button", "private chat", "other group"); never message text.
        `chat_id`: the staff group it came from, whose membership counts.
        """
        member = await self._membership(user_id, chat_id)
        if member:
            return True
        if member is None:  # not a forged attempt: Telegram did not answer; nothing is done
            log.warning("A %s was refused: Telegram could not confirm staff membership", action)
            return False
        self.store.record_forged(user_id, action, ticket_id, where)
        return False

    def forget_member(self, user_id: int) -> None:
        """Drop a cached answer (a member joined or left the group: Telegram told us)."""
        for key in [
            key for key in self._members if key == user_id or (isinstance(key, tuple) and key[0] == user_id)
        ]:
            self._members.pop(key, None)
