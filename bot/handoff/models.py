"""What the handoff store returns: tickets, staff topics, relay pairs, staff, audit entries, plans.

Every datetime is aware and in UTC; Brussels time is for display only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from bot.store.db import ForgetReason

TicketKind = Literal["live", "callback", "meeting"]
TICKET_KINDS: tuple[TicketKind, ...] = get_args(TicketKind)
TicketState = Literal["waiting", "claimed", "resolved"]
TICKET_STATES: tuple[TicketState, ...] = get_args(TicketState)
EndedBy = Literal["staff", "person", "forget"]
Direction = Literal["in", "out"]
""""in": the person wrote, the copy went to their staff topic; "out": a counsellor wrote, to the person."""
AuditAction = Literal["claim", "release", "resolve", "answer", "duty_on", "duty_off", "forged_attempt"]
AUDIT_ACTIONS: tuple[AuditAction, ...] = get_args(AuditAction)
Channel = Literal["telegram", "cli"]


class HandoffError(Exception):
    """A staff action the store refuses; `reason` is a short code the front-end maps to a message."""

    reason: str = "refused"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TicketNotFound(HandoffError):
    """No ticket with that number (never opened, or deleted by retention or /forget)."""

    reason = "not_found"


class TicketResolved(HandoffError):
    """The ticket is resolved: nothing more can be done with it."""

    reason = "resolved"


class AlreadyClaimed(HandoffError):
    """Another counsellor holds the ticket; `holder_alias` says who won."""

    reason = "taken"

    def __init__(self, ticket_id: int, holder_alias: str, holder_id: int | None) -> None:
        super().__init__(f"ticket {ticket_id} is already claimed by {holder_alias}")
        self.holder_alias = holder_alias
        self.holder_id = holder_id


class NotHolder(HandoffError):
    """Only the counsellor who holds a ticket can release it; `holder_alias` is who does (None: nobody)."""

    reason = "not_holder"

    def __init__(self, ticket_id: int, holder_alias: str | None) -> None:
        who = f"it is held by {holder_alias}" if holder_alias else "nobody holds it"
        super().__init__(f"ticket {ticket_id} cannot be released by you: {who}")
        self.holder_alias = holder_alias


class AliasTaken(HandoffError):
    """Another staff member already uses that alias (aliases sign messages, so they are unique)."""

    reason = "alias_taken"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does a staff action: a counsellor in the staff group, or an operator on the command line.

    `staff_id` is the counsellor's Telegram user id (None for a command-line operator whose
    alias belongs to no counsellor). The audit names a command-line actor "cli:<alias>".
    """

    staff_id: int | None
    alias: str
    channel: Channel = "telegram"

    @property
    def audit_name(self) -> str:
        """The name written in the audit log."""
        return f"cli:{self.alias}" if self.channel == "cli" else self.alias


@dataclass(frozen=True, slots=True)
class Ticket:
    """A person waiting for, or talking with, a counsellor."""

    id: int
    user_id: str
    reference: str
    """The pseudonymous reference staff see (never the Telegram id, name or phone)."""
    kind: TicketKind
    language: str
    state: TicketState
    chat_id: int | None
    """The staff group this ticket lives in (None: no staff group configured)."""
    opened_at: datetime
    waiting_since: datetime
    """When it last joined the queue: opened, released, or turned into a live request."""
    claimed_by: int | None = None
    claimed_alias: str | None = None
    claimed_at: datetime | None = None
    first_claimed_at: datetime | None = None
    wait_seconds: int | None = None
    """From joining the queue to the first claim (the figure the median is made of)."""
    resolved_at: datetime | None = None
    ended_by: EndedBy | None = None
    mentioned_at: datetime | None = None
    booking_id: int | None = None
    callback_id: int | None = None
    asked_topics: tuple[str, ...] = ()
    """Names of the answer topics the person asked about (never their messages)."""
    blocked: bool = False
    """The person blocked the assistant while the ticket was open."""
    forgotten: bool = False
    """The person deleted their data (/forget) while the ticket was open."""

    @property
    def is_open(self) -> bool:
        """Whether the ticket is waiting or claimed."""
        return self.state != "resolved"

    @property
    def relays_person(self) -> bool:
        """Whether the person's messages go to staff instead of the assistant answering them.

        A live ticket relays from the moment it opens; a call-back or meeting ticket only
        once a counsellor claimed it (the front-end tells the person a counsellor joined).
        """
        return self.is_open and not self.forgotten and (self.kind == "live" or self.state == "claimed")


@dataclass(frozen=True, slots=True)
class PersonTopic:
    """A person's topic in one staff group, reused across their tickets."""

    user_id: str
    chat_id: int
    thread_id: int
    reference: str
    closed: bool
    created_at: datetime
    last_used_at: datetime


@dataclass(frozen=True, slots=True)
class RelayPair:
    """One relayed message: its id on the side it was written and, once delivered, its copy's id.

    No text is ever kept: the ids are what edits, replies and a resumed relay need.
    """

    id: int
    ticket_id: int
    direction: Direction
    person_message_id: int | None
    staff_message_id: int | None
    created_at: datetime
    delivered_at: datetime | None = None
    reply_to: int | None = None
    """The message the source answers, as an id on the source's side (None: not a reply)."""

    @property
    def source_message_id(self) -> int:
        """The id of the message to copy (in the person's chat for "in", the staff group for "out")."""
        source = self.person_message_id if self.direction == "in" else self.staff_message_id
        assert source is not None  # the store inserts the source side with the row
        return source

    @property
    def delivered(self) -> bool:
        """Whether the copy was sent."""
        return self.delivered_at is not None


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A counsellor known to the handoff (created on first duty change, claim or alias)."""

    id: int
    alias: str
    language: str | None
    on_duty: bool
    duty_chat_id: int | None
    duty_since: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One staff action: who, what, when, which ticket; never message text."""

    id: int
    at: datetime
    staff_id: int | None
    alias: str | None
    action: AuditAction
    ticket_id: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class TopicCleanup:
    """A staff topic the front-end must delete in Telegram, then report with `cleanup_done`.

    Queued by /forget or by retention of an inactive person (the person's rows are gone
    already; `ticket_ids` are the numbers to tell staff in the General topic, and `reason`
    says which of the two happened: "the person deleted their data" is said only after /forget).
    """

    id: int
    chat_id: int
    thread_id: int
    ticket_ids: tuple[int, ...]
    created_at: datetime
    reason: ForgetReason = "forget"


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    """What deleting a person's data means for staff, read before the rows go."""

    open_tickets: tuple[Ticket, ...]
    topics: tuple[PersonTopic, ...]


@dataclass(frozen=True, slots=True)
class PhoneCard:
    """A ticket's card in a staff group that shows a phone number (ids only, never the number)."""

    ticket_id: int
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What one retention run deleted (counts only: the log never holds the data)."""

    tickets: int = 0
    relay_pairs: int = 0
    audit_rows: int = 0


@dataclass(frozen=True, slots=True)
class DayStats:
    """One Brussels day at the staff desk, for /stats."""

    opened: int
    claimed: int
    resolved: int
    meetings: int
    median_wait_seconds: float | None
    """Median wait until first claim of the day's claimed tickets (None: none claimed)."""


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """Where a waiting person stands, and the honest estimate of the wait (None: not enough history)."""

    position: int
    """1 for the next person a counsellor will see."""
    median_wait_seconds: float | None
