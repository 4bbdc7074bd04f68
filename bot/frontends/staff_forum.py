"""The staff forum: tickets and live conversations in a Telegram supergroup with topics.

One topic per person (title: the pseudonymous reference and the language), created on their
first ticket, closed on resolve, reopened on the next, recreated when deleted by hand. What
the person writes while a ticket relays goes into their topic as a copy (no forward header);
what the holder writes in the topic goes to the person as a copy, signed with the holder's
alias (in the caption of a photo, voice note or document; else in a short message after a run
of texts). A reply to a relayed message arrives as a reply to its copy, both ways. Claims,
releases, resolves, duty and answers are decided by `bot.handoff`; this module only
translates between Telegram and that domain, and does the Bot API calls.

Every copy is first noted as a relay pair, then taken (`claim_relay`), sent and marked
delivered: a restart, a 429 or two senders never lose or double one. Everything the staff
group receives goes through the application's rate limiter (about 20 messages a minute per
group), and traffic stays lean: one card per ticket, copies, and short replies to commands.

Wiring: `install(application, forum)` adds the handlers (an earlier handler group takes a
relaying person's messages before the dialogue sees them) and the repeating jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram import User as TelegramUser
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.booking.brussels import format_brussels
from bot.booking.models import Booking, Callback
from bot.booking.staff import StaffCard
from bot.booking.store import BookingStore
from bot.clock import BRUSSELS
from bot.content.library import ContentLibrary, Translator
from bot.content.topics import COUNSELLOR, MENU, N_, is_topic
from bot.dialogue.replies import Reply
from bot.handoff.desk import END, ended_reply, place_lines
from bot.handoff.models import (
    Actor,
    AlreadyClaimed,
    HandoffError,
    NotHolder,
    RelayPair,
    Ticket,
    TicketNotFound,
    TicketResolved,
)
from bot.handoff.service import Handoff
from bot.handoff.staff import MembershipUnknown, StaffDirectory
from bot.ids import parse_id
from bot.startup import StartupError

logger = logging.getLogger(__name__)

BUTTON: Final = "hs:"
"""Callback data of the card's buttons: "hs:<action>:<ticket>" (claim c, release r, resolve x)."""
_BUTTON_ACTIONS: Final = {"c": "claim", "r": "release", "x": "resolve"}
STAFF_COMMANDS: Final = ("claim", "release", "resolve", "answer", "duty", "queue", "stats", "alias")
RELAY_JOB_INTERVAL: Final = timedelta(seconds=5)
HOUSEKEEPING_INTERVAL: Final = timedelta(hours=6)
_MEMBER_STATUSES: Final = frozenset(
    {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
# Marked for extraction; translated into STAFF_LANGUAGE where the card is written.
_KINDS: Final = {"live": N_("live conversation"), "callback": N_("call-back"), "meeting": N_("meeting")}
_MODES: Final = {"phone": N_("phone call"), "video": N_("video call"), "desk": N_("in person")}
CAPTION_MAX: Final = 1024
"""Telegram's limit on a caption, in UTF-16 code units."""


@dataclass(frozen=True, slots=True)
class MediaCaption:
    """A counsellor's photo, voice note or document: its caption, to sign the copy in it.

    Kept in memory only until the copy is sent (never in the database): after a restart,
    the copy goes with its caption as written and a separate signature.
    """

    text: str | None = None
    entities: tuple[MessageEntity, ...] = ()


def media_caption(message: Message) -> MediaCaption | None:
    """The caption of a message whose copy can carry one (None: text, stickers, video notes...)."""
    if not (message.photo or message.voice or message.document or message.video or message.audio
            or message.animation):  # fmt: skip
        return None
    return MediaCaption(message.caption, tuple(message.caption_entities))


def _reply_to(message: Message) -> int | None:
    """The id of the message this one answers; a topic's own first message is not an answer."""
    answered = message.reply_to_message
    if answered is None or answered.message_id == message.message_thread_id:
        return None
    return answered.message_id


def person_chat(user_id: str) -> int | None:
    """The private chat of a person's user key ("tg:<id>"); None for another front-end's users."""
    prefix, _, number = user_id.partition(":")
    return int(number) if prefix == "tg" and number.isdigit() else None


def _thread_gone(error: BadRequest) -> bool:
    return "thread not found" in error.message.lower()


def _not_modified(error: BadRequest) -> bool:
    return "not_modified" in error.message.lower() or "not modified" in error.message.lower()


def default_alias(staff_id: int) -> str:
    """An alias for a counsellor who has not chosen one: never their name or account."""
    digest = hashlib.sha256(f"staff:{staff_id}".encode()).hexdigest()[:4].upper()
    return f"Counsellor-{digest}"


class StaffForum:
    """The staff groups' front-end: topics, cards, relay, staff commands and buttons."""

    def __init__(
        self,
        bot: Bot,
        handoff: Handoff,
        library: ContentLibrary,
        *,
        bookings: BookingStore | None = None,
        staff_language: str = "en",
    ) -> None:
        self.bot = bot
        self.handoff = handoff
        self.tickets = handoff.tickets
        self.library = library
        self.bookings = bookings
        self.tr: Translator = library.translator(staff_language)
        # A ticket's lock lives while a sender holds or awaits it: no map that grows per ticket.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_signer: dict[int, str] = {}
        self._captions: dict[int, MediaCaption] = {}  # relay pair id -> the media's caption
        self._started_at = handoff.clock.now()
        self._resumed = False
        self.foreign_commands = 0  # staff commands typed in private chats: counted, never by whom
        if handoff.staff is None:
            handoff.staff = StaffDirectory(
                self.is_member,
                handoff.tickets,
                allowed_ids=handoff.settings.staff_user_ids,
                member_of=self.is_member_of,
            )
        self.staff: StaffDirectory = handoff.staff

    @property
    def chat_ids(self) -> frozenset[int]:
        """The staff groups; every other group is ignored."""
        return self.handoff.settings.routing.chat_ids

    # -- start-up --------------------------------------------------------------------------

    async def check(self) -> None:
        """Stop with one line saying what to change in Telegram unless each staff group can hold topics."""
        me = await self.bot.get_me()
        for chat_id in sorted(self.chat_ids):
            try:
                chat = await self.bot.get_chat(chat_id)
                member = await self.bot.get_chat_member(chat_id, me.id)
            except Forbidden:
                raise StartupError(
                    f"the bot is not in the staff group {chat_id}: add it to the group as an administrator"
                ) from None
            except BadRequest as error:
                raise StartupError(
                    f"Telegram does not know the staff group {chat_id} ({error.message}): check STAFF_CHAT_ID"
                    " and add the bot to the group"
                ) from None
            if not chat.is_forum:
                raise StartupError(
                    f"the staff group {chat_id} has no topics: in Telegram, open the group's settings and"
                    " turn on Topics"
                )
            can_manage = getattr(member, "can_manage_topics", False)
            if member.status != ChatMemberStatus.ADMINISTRATOR or not can_manage:
                raise StartupError(
                    f"the bot cannot manage topics in the staff group {chat_id}: in Telegram, make it an"
                    " administrator with the right to manage topics"
                )

    async def is_member(self, user_id: int) -> bool:
        """Ask Telegram whether the user is a member of any staff group."""
        for chat_id in sorted(self.chat_ids):
            if await self.is_member_of(user_id, chat_id):
                return True
        return False

    async def is_member_of(self, user_id: int, chat_id: int) -> bool:
        """Ask Telegram whether the user is a member of this staff group (and it is one)."""
        if chat_id not in self.chat_ids:
            return False
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except BadRequest:  # "user not found", "participant not found"
            return False
        except TelegramError as error:  # the bot removed (Forbidden), a network fault, a 429 left over
            logger.warning(
                "Asking the staff group %d about a member failed: %s", chat_id, type(error).__name__
            )
            raise MembershipUnknown(type(error).__name__) from error
        return member.status in _MEMBER_STATUSES or bool(getattr(member, "is_member", False))

    # -- topics and cards ------------------------------------------------------------------

    async def _topic(self, ticket: Ticket) -> int:
        """The thread id of the person's topic in the ticket's group: created, or reopened, as needed."""
        assert ticket.chat_id is not None
        topic = self.tickets.topic_of(ticket.user_id, ticket.chat_id)
        if topic is None:
            created = await self.bot.create_forum_topic(
                ticket.chat_id, f"{ticket.reference} · {ticket.language}"
            )
            topic = self.tickets.save_topic(
                ticket.user_id, ticket.chat_id, created.message_thread_id, ticket.reference
            )
            logger.info("Staff topic created for ticket %d", ticket.id)
        elif topic.closed:
            try:
                await self.bot.reopen_forum_topic(ticket.chat_id, topic.thread_id)
            except BadRequest as error:
                if _thread_gone(error):
                    self.tickets.topic_deleted(ticket.chat_id, topic.thread_id)
                    return await self._topic(ticket)
                if not _not_modified(error):
                    raise
            self.tickets.set_topic_closed(ticket.chat_id, topic.thread_id, False)
        return topic.thread_id

    async def _in_topic(self, ticket: Ticket, send: Callable[[int], Awaitable[Any]]) -> Any:
        """Post into the person's topic; a topic deleted by hand is recreated once and the post retried."""
        assert ticket.chat_id is not None
        thread = await self._topic(ticket)
        try:
            return await send(thread)
        except BadRequest as error:
            if not _thread_gone(error):
                raise
            logger.info("The staff topic of ticket %d was deleted by hand; creating it again", ticket.id)
            self.tickets.topic_deleted(ticket.chat_id, thread)
            return await send(await self._topic(ticket))

    async def say_in_topic(
        self, ticket: Ticket, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        """Post a plain-text staff message in the person's topic."""
        chat_id = ticket.chat_id
        assert chat_id is not None
        message: Message = await self._in_topic(
            ticket,
            lambda thread: self.bot.send_message(
                chat_id, text, message_thread_id=thread, reply_markup=markup
            ),
        )
        return message

    async def post_card(self, ticket: Ticket, card: StaffCard | None = None) -> None:
        """Post the ticket's card, with its buttons, in the person's topic.

        A card showing a phone number is noted, so that the number is edited out of it once
        the database erases it (`erase_phones_from_cards`).
        """
        message = await self.say_in_topic(ticket, self.card_text(ticket, card), self.card_buttons(ticket))
        if ticket.chat_id is not None and self._shows_phone(ticket):
            self.tickets.card_shows_phone(ticket.id, ticket.chat_id, message.message_id)

    def card_text(self, ticket: Ticket, card: StaffCard | None = None) -> str:
        """The card: number, reference, language, kind, waiting since, topics asked, booking, holder."""
        tr = self.tr
        since = format_brussels(ticket.waiting_since)
        lines = [
            tr.gettext("Ticket {number} · {reference} · {language}", number=ticket.id,
                       reference=ticket.reference, language=ticket.language),
            tr.gettext("Kind: {kind}", kind=tr.gettext(_KINDS[ticket.kind])),
            tr.gettext("Waiting since {time} (Brussels)", time=since),
        ]  # fmt: skip
        if ticket.asked_topics:
            names = ", ".join(tr.label(topic) for topic in ticket.asked_topics)
            lines.append(tr.gettext("Asked about: {topics}", topics=names))
        lines.extend(self._booking_lines(ticket, card))
        if ticket.state == "claimed":
            lines.append(tr.gettext("Claimed by {alias}", alias=ticket.claimed_alias or "?"))
        elif ticket.state == "resolved":
            lines.append(tr.gettext("Resolved"))
        else:
            lines.append(tr.gettext("Waiting for a counsellor"))
        if ticket.blocked:
            lines.append(tr.gettext("The person blocked the assistant."))
        # Plain text: values are escaped for HTML by gettext; undo that, the card is not HTML.
        return "\n".join(_unescape(line) for line in lines)

    def _booking_of(self, ticket: Ticket) -> Booking | None:
        if self.bookings is None or ticket.booking_id is None:
            return None
        with contextlib.suppress(Exception):
            return self.bookings.booking(ticket.booking_id)
        return None

    def _callback_of(self, ticket: Ticket) -> Callback | None:
        if self.bookings is None or ticket.callback_id is None:
            return None
        with contextlib.suppress(Exception):
            return self.bookings.callback(ticket.callback_id)
        return None

    def _shows_phone(self, ticket: Ticket) -> bool:
        """Whether the ticket's card shows a phone number now (the database still holds one it needs)."""
        booking, callback = self._booking_of(ticket), self._callback_of(ticket)
        return bool(booking is not None and booking.phone and booking.mode == "phone") or bool(
            callback is not None and callback.status == "open" and callback.phone
        )

    def _booking_lines(self, ticket: Ticket, card: StaffCard | None) -> list[str]:
        tr = self.tr
        lines: list[str] = []
        booking = self._booking_of(ticket)
        if booking is not None:
            mode = tr.gettext(_MODES.get(booking.mode, booking.mode))
            lines.append(tr.gettext("Meeting: {when} (Brussels), {minutes} min, {mode}",
                                    when=format_brussels(booking.starts_at), minutes=booking.slot.minutes,
                                    mode=mode))  # fmt: skip
            if booking.slot.desk:
                lines.append(tr.gettext("Desk: {desk}", desk=booking.slot.desk))
            if booking.interpreter_language:
                lines.append(tr.gettext("Interpreter for: {language}", language=booking.interpreter_language))
            if booking.topics:
                lines.append(tr.gettext("Meeting topics: {topics}", topics=", ".join(booking.topics)))
            if booking.phone and booking.mode == "phone":
                lines.append(tr.gettext("Phone: {phone}", phone=booking.phone))
        callback = self._callback_of(ticket)
        if callback is not None and callback.status == "open":
            part = tr.gettext("morning") if callback.part_of_day == "morning" else tr.gettext("afternoon")
            text = tr.gettext("Call back: {phone}, in the {part}, in {language}",
                              phone=callback.phone or "?", part=part, language=callback.language)  # fmt: skip
            lines.append(text)
        if not lines and card is not None and card.kind in ("cancelled", "forgotten"):
            lines.append(tr.gettext("Meeting cancelled"))
        return lines

    def card_buttons(self, ticket: Ticket) -> InlineKeyboardMarkup | None:
        """Claim, Release and Resolve, with the ticket number in the data (every press is authorised)."""
        if not ticket.is_open:
            return None
        tr = self.tr
        return InlineKeyboardMarkup([[
            InlineKeyboardButton(tr.gettext("Claim"), callback_data=f"{BUTTON}c:{ticket.id}"),
            InlineKeyboardButton(tr.gettext("Release"), callback_data=f"{BUTTON}r:{ticket.id}"),
            InlineKeyboardButton(tr.gettext("Resolve"), callback_data=f"{BUTTON}x:{ticket.id}"),
        ]])  # fmt: skip

    # -- the StaffNotifier protocol (person side) ------------------------------------------

    async def ticket_opened(self, ticket: Ticket, *, created: bool, card: StaffCard | None = None) -> None:
        """Post the card of a new ticket, or of a booking, call-back or live request added to one."""
        if ticket.chat_id is None:
            return
        try:
            await self.post_card(ticket, card)
        except TelegramError as error:  # the ticket stands; staff see it in /queue and the CLI
            logger.error("Posting the card of ticket %d failed: %s", ticket.id, type(error).__name__)

    async def ticket_ended_by_person(self, ticket: Ticket) -> None:
        """Tell staff the person left, and close the topic."""
        if ticket.chat_id is None:
            return
        try:
            await self.say_in_topic(
                ticket,
                self.tr.gettext("Ticket {number}: the person ended the conversation.", number=ticket.id),
            )
            await self._close_topic(ticket)
        except TelegramError as error:
            logger.warning("Telling staff that ticket %d ended failed: %s", ticket.id, type(error).__name__)

    async def end_for_person(self, ticket: Ticket) -> None:
        """`/end` from the person: close the ticket, tell staff, tell the person the assistant is back."""
        ended = self.tickets.end_by_person(ticket.user_id)
        if ended is None:
            return
        await self.ticket_ended_by_person(ended)
        reply = ended_reply(self.library.translator(ended.language))
        await self._tell_person(ended, person_chat(ended.user_id), reply, _markup(reply))

    async def card_without_ticket(self, card: StaffCard) -> None:
        """A cancelled or withdrawn meeting: a short line in the General topic of the default group."""
        chat_id = self.handoff.settings.routing.chat_for(card.language)
        if chat_id is None:
            return
        heading = {
            "cancelled": self.tr.gettext("Meeting cancelled"),
            "forgotten": self.tr.gettext("The person deleted their data"),
        }.get(card.kind, card.kind)
        text = f"{heading} · {card.reference}"
        if card.starts_at is not None:
            text += f" · {format_brussels(card.starts_at)}"
        try:
            await self.bot.send_message(chat_id, _unescape(text))
        except TelegramError as error:
            logger.warning("Posting a %s card failed: %s", card.kind, type(error).__name__)

    async def _close_topic(self, ticket: Ticket) -> None:
        assert ticket.chat_id is not None
        self._last_signer.pop(ticket.id, None)  # the ticket ended: its signing run too
        topic = self.tickets.topic_of(ticket.user_id, ticket.chat_id)
        if topic is None or topic.closed:
            return
        try:
            await self.bot.close_forum_topic(ticket.chat_id, topic.thread_id)
        except BadRequest as error:
            if _thread_gone(error):
                self.tickets.topic_deleted(ticket.chat_id, topic.thread_id)
                return
            if not _not_modified(error):
                raise
        self.tickets.set_topic_closed(ticket.chat_id, topic.thread_id, True)

    # -- relay -------------------------------------------------------------------------------

    async def relay_from_person(self, ticket: Ticket, message_id: int, reply_to: int | None = None) -> None:
        """Note the person's message and copy it (and anything still pending) into their topic."""
        try:
            pair = self.tickets.record_relay(ticket.id, "in", message_id, reply_to)
        except HandoffError:
            return
        if pair is not None:
            await self.flush(ticket.id)

    async def flush(self, ticket_id: int) -> None:
        """Send the ticket's pending copies in order; stop at the first that must wait."""
        lock = self._locks.get(ticket_id)
        if lock is None:
            lock = self._locks[ticket_id] = asyncio.Lock()
        async with lock:
            for pair in self.tickets.pending_relays(ticket_id):
                try:
                    ticket = self.tickets.ticket(ticket_id)
                except TicketNotFound:
                    self._last_signer.pop(ticket_id, None)
                    return
                if not self.tickets.claim_relay(pair.id):
                    return  # another sender has it (or it was delivered meanwhile)
                if not await self._send_pair(ticket, pair):
                    return

    async def _send_pair(self, ticket: Ticket, pair: RelayPair) -> bool:
        """Copy one message across; return whether the next one may follow."""
        person = person_chat(ticket.user_id)
        if person is None or ticket.chat_id is None:
            self.tickets.drop_relay(pair.id)
            return True
        group = ticket.chat_id
        target = self.tickets.reply_target(pair)
        # Without the message answered (deleted, or in a topic recreated since), send it anyway.
        reply = None if target is None else ReplyParameters(target, allow_sending_without_reply=True)
        signed = self._signed_caption(ticket, pair)
        try:
            if pair.direction == "in":
                copy = await self._in_topic(
                    ticket,
                    lambda thread: self.bot.copy_message(group, person, pair.source_message_id,
                                                         message_thread_id=thread, reply_parameters=reply),
                )  # fmt: skip
            elif signed is not None:
                copy = await self.bot.copy_message(
                    person, group, pair.source_message_id, reply_parameters=reply,
                    caption=signed.text, caption_entities=signed.entities or None,
                )  # fmt: skip
            else:
                copy = await self.bot.copy_message(
                    person, group, pair.source_message_id, reply_parameters=reply
                )
        except Forbidden as error:
            if pair.direction == "in":  # the staff group refused: the bot was removed or may not post
                logger.error("The staff group %d refused a copy (%s); the job retries", group, error.message)
                self.tickets.release_relay(pair.id)
                return False
            self._captions.pop(pair.id, None)
            self.tickets.drop_relay(pair.id)
            await self._person_blocked(ticket)
            return False
        except BadRequest as error:  # the message is gone (deleted) or cannot be copied: give it up
            logger.warning("A relayed message of ticket %d cannot be copied: %s", ticket.id, error.message)
            self._captions.pop(pair.id, None)
            self.tickets.drop_relay(pair.id)
            return True
        except (RetryAfter, TelegramError) as error:  # 429 after the limiter's retries, time-outs, 5xx
            logger.warning("Relay of ticket %d waits (%s); the job retries", ticket.id, type(error).__name__)
            self.tickets.release_relay(pair.id)
            return False
        self.tickets.relay_delivered(pair.id, copy.message_id)
        self._captions.pop(pair.id, None)
        if pair.direction == "in":
            self._last_signer.pop(ticket.id, None)
        elif signed is not None and ticket.claimed_alias is not None:
            self._last_signer[ticket.id] = ticket.claimed_alias  # the media's caption signed the run
        else:
            await self._sign(ticket, person)
        return True

    def _signed_caption(self, ticket: Ticket, pair: RelayPair) -> MediaCaption | None:
        """The caption of a counsellor's media copy with "— alias" added, if Telegram takes it."""
        media = self._captions.get(pair.id) if pair.direction == "out" else None
        alias = ticket.claimed_alias
        if media is None or alias is None:
            return None
        signature = f"— {alias}"
        text = f"{media.text}\n\n{signature}" if media.text else signature
        if len(text.encode("utf-16-le")) // 2 > CAPTION_MAX:
            return None  # a long caption keeps its text; the signature follows on its own
        return MediaCaption(text, media.entities)

    async def _sign(self, ticket: Ticket, person: int) -> None:
        """Sign a run of the counsellor's copies once, with their alias (never their account)."""
        alias = ticket.claimed_alias
        if alias is None or self._last_signer.get(ticket.id) == alias:
            return
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(person, f"— {alias}")
            self._last_signer[ticket.id] = alias

    async def _person_blocked(self, ticket: Ticket) -> None:
        marked = self.tickets.mark_blocked(ticket.user_id)
        if marked is None or ticket.blocked:
            return
        logger.info("A person blocked the assistant during ticket %d", ticket.id)
        with contextlib.suppress(TelegramError):
            await self.say_in_topic(
                marked,
                self.tr.gettext(
                    "Ticket {number}: the person blocked the assistant; nothing more reaches them."
                    " Resolve the ticket when you are done.",
                    number=ticket.id,
                ),
            )

    async def relay_from_staff(
        self, ticket: Ticket, message_id: int, reply_to: int | None = None, media: MediaCaption | None = None
    ) -> None:
        """Note the holder's message in the topic and copy it to the person."""
        try:
            pair = self.tickets.record_relay(ticket.id, "out", message_id, reply_to)
        except HandoffError:
            return
        if pair is not None:
            if media is not None:
                self._captions[pair.id] = media
            await self.flush(ticket.id)

    async def resume(self) -> None:
        """Send every pending copy (after a restart, a 429 or a failure), ticket by ticket, in order."""
        if not self._resumed:  # the first run, at start-up: a killed process's claims are ours now
            released = self.tickets.release_abandoned_relays(self._started_at)
            if released:
                logger.info("Resuming %d relayed message(s) a previous run left unsent", released)
            self._resumed = True
        for ticket_id in dict.fromkeys(pair.ticket_id for pair in self.tickets.pending_relays()):
            await self.flush(ticket_id)

    async def follow_edit(self, ticket: Ticket, *, person_message_id: int | None = None,
                          staff_message_id: int | None = None, text: str | None) -> None:  # fmt: skip
        """Edit the copy of an edited text message, where Telegram allows it (text only)."""
        if text is None:
            return
        if person_message_id is not None:
            pair = self.tickets.find_pair(ticket.id, person_message_id=person_message_id)
            target_chat, target_id = ticket.chat_id, pair.staff_message_id if pair else None
        else:
            pair = self.tickets.find_pair(ticket.id, staff_message_id=staff_message_id)
            target_chat, target_id = person_chat(ticket.user_id), pair.person_message_id if pair else None
        if pair is None or not pair.delivered or target_chat is None or target_id is None:
            return
        try:
            await self.bot.edit_message_text(text, target_chat, target_id)
        except BadRequest as error:
            logger.info("An edit of ticket %d was not followed: %s", ticket.id, error.message)

    # -- staff actions ---------------------------------------------------------------------

    def _alias(self, user: TelegramUser) -> str:
        member = self.tickets.staff_member(user.id)
        return member.alias if member is not None else default_alias(user.id)

    async def staff_action(
        self, user: TelegramUser, action: str, ticket_id: int, where: str, chat_id: int
    ) -> str:
        """Claim, release or resolve, authorised first; return what to tell the counsellor.

        `chat_id` is the staff group the button or command came from: only that group's members
        act, and only on that group's tickets (a ticket of another group is refused and audited).
        """
        tr = self.tr
        refused = tr.gettext("Only staff of this group can do that.")
        if not await self.staff.authorise(user.id, action, ticket_id=ticket_id, where=where, chat_id=chat_id):
            logger.warning("A %s by someone who is not staff was refused (ticket %d)", action, ticket_id)
            return refused
        try:
            group = self.tickets.ticket(ticket_id).chat_id
        except TicketNotFound:
            return tr.gettext("There is no ticket {number}.", number=ticket_id)
        if group != chat_id:
            self.tickets.record_forged(user.id, action, ticket_id, f"{where} in another staff group")
            logger.warning("A %s on ticket %d from another staff group was refused", action, ticket_id)
            return refused
        actor = Actor(user.id, self._alias(user))
        try:
            if action == "claim":
                ticket = self.tickets.claim(ticket_id, actor)
            elif action == "release":
                ticket = self.tickets.release(ticket_id, actor)
            else:
                ticket = self.tickets.resolve(ticket_id, actor)
        except AlreadyClaimed as error:
            return tr.gettext("Ticket {number} is already claimed by {alias}.", number=ticket_id,
                              alias=error.holder_alias)  # fmt: skip
        except NotHolder as error:
            if error.holder_alias:
                return tr.gettext("Only {alias} can release ticket {number}.", alias=error.holder_alias,
                                  number=ticket_id)  # fmt: skip
            return tr.gettext("Nobody holds ticket {number}.", number=ticket_id)
        except TicketResolved:
            return tr.gettext("Ticket {number} is resolved.", number=ticket_id)
        except TicketNotFound:
            return tr.gettext("There is no ticket {number}.", number=ticket_id)
        await self._after(action, ticket)
        done = {
            "claim": tr.gettext("You hold ticket {number}. What you write in this topic goes to the person,"
                                " signed {alias}.", number=ticket.id, alias=ticket.claimed_alias or ""),
            "release": tr.gettext("Ticket {number} is back in the queue.", number=ticket.id),
            "resolve": tr.gettext("Ticket {number} is resolved.", number=ticket.id),
        }  # fmt: skip
        return done[action]

    async def _after(self, action: str, ticket: Ticket) -> None:
        """Tell the person what a staff action means for them, in their language."""
        person = person_chat(ticket.user_id)
        tr = self.library.translator(ticket.language)
        if action == "claim":
            end = InlineKeyboardMarkup(
                [[InlineKeyboardButton(tr.gettext("End the conversation"), callback_data=END)]]
            )
            reply = Reply(
                tr.gettext("A counsellor is with you now. Write your message here."), key="handoff_claimed"
            )
            await self._tell_person(ticket, person, reply, end)
        elif action == "release" and ticket.kind == "live":
            lines = [tr.gettext("Your counsellor had to leave. You are waiting for the next one.")]
            lines.extend(place_lines(tr, self.handoff.queue.place(ticket)))
            await self._tell_person(ticket, person, Reply("\n".join(lines), key="handoff_released"))
        elif action == "release":  # a call-back or meeting: back with staff, and the assistant answers
            reply = ended_reply(tr)
            await self._tell_person(ticket, person, reply, _markup(reply))
        elif action == "resolve":
            await self.flush(ticket.id)  # what the counsellor wrote last goes before the goodbye
            reply = ended_reply(tr)
            await self._tell_person(ticket, person, reply, _markup(reply))
            with contextlib.suppress(TelegramError):
                await self._close_topic(ticket)

    async def _tell_person(
        self, ticket: Ticket, person: int | None, reply: Reply, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        if person is None or ticket.blocked:
            return
        try:
            await self.bot.send_message(person, reply.text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except Forbidden:
            await self._person_blocked(ticket)
        except TelegramError as error:
            logger.warning("Telling the person of ticket %d failed: %s", ticket.id, type(error).__name__)

    async def answer(self, user: TelegramUser, ticket: Ticket, topic: str | None) -> str:
        """`/answer TOPIC`: the vetted answer, in the person's language; `/answer` lists the topics."""
        tr = self.tr
        if not await self.staff.authorise(
            user.id, "answer", ticket_id=ticket.id, where="topic", chat_id=ticket.chat_id
        ):
            return tr.gettext("Only staff of this group can do that.")
        topics = [name for name in MENU if name != COUNSELLOR]
        if not topic:
            listing = "\n".join(f"{name} — {_unescape(tr.label(name))}" for name in topics)
            return tr.gettext("Send /answer TOPIC with one of these topics:") + "\n" + listing
        if not is_topic(topic) or topic == COUNSELLOR:
            return tr.gettext("There is no topic {topic}. Send /answer to see the list.", topic=topic)
        if ticket.state != "claimed" or ticket.claimed_by != user.id:
            return tr.gettext("Claim ticket {number} first.", number=ticket.id)
        served = self.library.answer(topic, ticket.language)
        text = served.text if served.note is None else f"<i>{served.note}</i>\n\n{served.text}"
        person = person_chat(ticket.user_id)
        await self._tell_person(ticket, person, Reply(text, key=topic))
        if person is not None:
            await self._sign(ticket, person)
        self.tickets.record_answer(Actor(user.id, self._alias(user)), ticket.id, topic)
        return tr.gettext(
            "Sent the vetted answer {topic} in {language}.", topic=topic, language=served.language
        )

    async def duty(self, user: TelegramUser, chat_id: int, argument: str) -> str:
        """`/duty on|off` in a staff group."""
        tr = self.tr
        if argument not in ("on", "off"):
            return tr.gettext("Send /duty on or /duty off.")
        if not await self.staff.authorise(user.id, "duty", where="group", chat_id=chat_id):
            return tr.gettext("Only staff of this group can do that.")
        member = self.tickets.set_duty(user.id, self._alias(user), argument == "on", chat_id)
        if member.on_duty:
            return tr.gettext(
                "{alias} is on duty: people can ask for a live conversation.", alias=member.alias
            )
        return tr.gettext("{alias} is off duty.", alias=member.alias)

    async def queue_text(self, user: TelegramUser, chat_id: int) -> str:
        """`/queue`: waiting and claimed tickets, oldest first, with their wait and holder."""
        tr = self.tr
        if not await self.staff.authorise(user.id, "queue", where="group", chat_id=chat_id):
            return tr.gettext("Only staff of this group can do that.")
        tickets = self.handoff.queue.open_tickets(chat_id)
        if not tickets:
            return tr.gettext("Nobody is waiting.")
        now = self.handoff.clock.now()
        lines = []
        for ticket in tickets:
            minutes = int((now - ticket.waiting_since).total_seconds() // 60)
            holder = ticket.claimed_alias or tr.gettext("waiting")
            kind = tr.gettext(_KINDS[ticket.kind])
            lines.append(tr.gettext("#{number} {reference} {language} {kind}: {minutes} min, {holder}",
                                    number=ticket.id, reference=ticket.reference, language=ticket.language,
                                    kind=kind, minutes=minutes, holder=holder))  # fmt: skip
        return "\n".join(_unescape(line) for line in lines)

    async def stats_text(self, user: TelegramUser, chat_id: int) -> str:
        """`/stats`: today's tickets, median wait until claimed, resolved, meetings."""
        tr = self.tr
        if not await self.staff.authorise(user.id, "stats", where="group", chat_id=chat_id):
            return tr.gettext("Only staff of this group can do that.")
        today = self.handoff.clock.now().astimezone(BRUSSELS).date()
        stats = self.handoff.queue.stats(today, chat_id)
        median = "—" if stats.median_wait_seconds is None else f"{round(stats.median_wait_seconds / 60)} min"
        return _unescape(tr.gettext(
            "Today: {opened} tickets, {claimed} claimed (median wait {median}), {resolved} resolved,"
            " {meetings} meetings.", opened=stats.opened, claimed=stats.claimed, median=median,
            resolved=stats.resolved, meetings=stats.meetings))  # fmt: skip

    async def set_alias(self, user: TelegramUser, alias: str) -> str:
        """`/alias NAME`: the name that signs the counsellor's messages."""
        tr = self.tr
        if not await self.staff.authorise(user.id, "alias", where="group"):
            return tr.gettext("Only staff of this group can do that.")
        try:
            member = self.tickets.set_alias(user.id, alias)
        except HandoffError as error:
            if error.reason == "alias_taken":
                return tr.gettext("Another counsellor uses that alias. Choose another.")
            return tr.gettext("An alias has 1 to 32 characters.")
        return tr.gettext("Your messages are signed {alias}.", alias=member.alias)

    # -- jobs ------------------------------------------------------------------------------

    async def mention_overdue(self) -> None:
        """Mention, once, each live ticket waiting longer than WAIT_MENTION_MINUTES, in General."""
        for ticket in self.handoff.overdue():
            if ticket.chat_id is None:
                continue
            text = self.tr.gettext(
                "Ticket {number} ({reference}, {language}) has been waiting for more than {minutes} minutes.",
                number=ticket.id, reference=ticket.reference, language=ticket.language,
                minutes=self.handoff.settings.wait_mention_minutes,
            )  # fmt: skip
            with contextlib.suppress(TelegramError):
                await self.bot.send_message(ticket.chat_id, _unescape(text))

    async def person_forgotten(self) -> None:
        """A person deleted their data (the StaffNotifier's hook): clear their topics now."""
        await self.clean_up_forgotten()

    async def clean_up_forgotten(self) -> None:
        """Delete the topics of people who deleted their data or were removed by retention.

        Staff are told only the ticket numbers, and why (never "deleted their data" for retention).
        """
        for cleanup in self.tickets.pending_cleanups():
            try:
                await self.bot.delete_forum_topic(cleanup.chat_id, cleanup.thread_id)
            except BadRequest as error:
                if not _thread_gone(error):
                    logger.warning("Deleting a forgotten person's topic failed: %s", error.message)
                    continue
            except TelegramError:
                continue  # tried again by the next run
            for number in cleanup.ticket_ids:
                text = (
                    self.tr.gettext("Ticket {number}: removed after the retention period.", number=number)
                    if cleanup.reason == "retention"
                    else self.tr.gettext("Ticket {number}: the person deleted their data.", number=number)
                )
                with contextlib.suppress(TelegramError):
                    await self.bot.send_message(cleanup.chat_id, text)
            self.tickets.cleanup_done(cleanup.id)

    async def erase_phones_from_cards(self) -> None:
        """Edit the phone number out of cards once the database erased it (call-back done, meeting over).

        Each card is edited once, to the ticket's card as it stands (without the number). A
        card that cannot be edited (deleted by hand, gone with its topic, the bot removed) is
        logged by ticket number and left; a network fault or a 429 leaves it for the next run.
        """
        for card in self.tickets.phone_cards():
            try:
                ticket = self.tickets.ticket(card.ticket_id)
            except TicketNotFound:
                self.tickets.phone_card_cleared(card)
                continue
            if self._shows_phone(ticket):
                continue
            try:
                await self.bot.edit_message_text(
                    self.card_text(ticket),
                    card.chat_id,
                    card.message_id,
                    reply_markup=self.card_buttons(ticket),
                )
            except (BadRequest, Forbidden) as error:  # gone, too old, or the bot may no longer post
                if not (isinstance(error, BadRequest) and _not_modified(error)):
                    logger.warning(
                        "The card of ticket %d could not be edited to remove the phone number: %s",
                        ticket.id,
                        error.message,
                    )
            except TelegramError as error:
                logger.info("Editing the card of ticket %d waits (%s)", ticket.id, type(error).__name__)
                continue
            self.tickets.phone_card_cleared(card)

    async def housekeeping(self) -> None:
        """Retention: old resolved tickets and their pairs go; topics unused that long are deleted."""
        result = self.handoff.housekeeping()
        for topic in result.stale_topics:
            try:
                await self.bot.delete_forum_topic(topic.chat_id, topic.thread_id)
            except BadRequest as error:
                if not _thread_gone(error):
                    continue
            except TelegramError:
                continue
            self.tickets.topic_deleted(topic.chat_id, topic.thread_id)


def _unescape(text: str) -> str:
    """Staff messages are plain text: undo gettext's HTML escaping of values."""
    return html.unescape(text)


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in reply.buttons]
    )


# -- handlers: one step each -------------------------------------------------------------------

Context = CallbackContext[Any, Any, Any, Any]


def _forum(context: Context) -> StaffForum:
    forum: StaffForum = context.application.bot_data["staff_forum"]
    return forum


async def on_person_message(update: Update, context: Context) -> None:
    """A relaying person's message goes to their topic, and the dialogue does not answer it."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    forum = _forum(context)
    ticket = forum.tickets.open_ticket_of(f"tg:{user.id}")
    if ticket is None or not ticket.relays_person:
        return
    if message.text and message.text.startswith("/"):
        if message.text.split()[0].split("@")[0].lower() == "/end":
            await forum.end_for_person(ticket)
            raise ApplicationHandlerStop
        return  # other commands (/forget, /menu) are the dialogue's
    await forum.relay_from_person(ticket, message.message_id, _reply_to(message))
    raise ApplicationHandlerStop


async def on_person_edit(update: Update, context: Context) -> None:
    """A relaying person edited a message: the copy in their topic follows."""
    message, user = update.edited_message, update.effective_user
    if message is None or user is None:
        return
    forum = _forum(context)
    ticket = forum.tickets.open_ticket_of(f"tg:{user.id}")
    if ticket is not None:
        await forum.follow_edit(ticket, person_message_id=message.message_id, text=message.text)


async def on_staff_message(update: Update, context: Context) -> None:
    """A message in a person's topic goes to the person when its author holds the ticket."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.message_thread_id is None or not message.is_topic_message:
        return  # the General topic: never relayed
    forum = _forum(context)
    chat_id, thread = message.chat_id, message.message_thread_id
    if forum.tickets.topic_by_thread(chat_id, thread) is None:
        return  # a topic staff made for themselves
    ticket = forum.tickets.ticket_for_thread(chat_id, thread)
    tr = forum.tr
    if ticket is None:
        await _reply(message, tr.gettext("This ticket is resolved: nothing was sent to the person."))
        return
    if not await forum.staff.authorise(user.id, "relay", ticket_id=ticket.id, where="topic", chat_id=chat_id):
        return
    if ticket.state != "claimed" or ticket.claimed_by != user.id:
        text = (tr.gettext("Claim ticket {number} first: nothing was sent.", number=ticket.id)
                if ticket.state == "waiting"
                else tr.gettext("{alias} holds ticket {number}: nothing was sent.",
                                alias=ticket.claimed_alias or "?", number=ticket.id))  # fmt: skip
        await _reply(message, _unescape(text))
        return
    await forum.relay_from_staff(ticket, message.message_id, _reply_to(message), media_caption(message))


async def on_staff_edit(update: Update, context: Context) -> None:
    """The holder edited a relayed message: the person's copy follows (text only)."""
    message = update.edited_message
    if message is None or message.message_thread_id is None:
        return
    forum = _forum(context)
    ticket = forum.tickets.ticket_for_thread(message.chat_id, message.message_thread_id)
    user = update.effective_user
    if ticket is None or user is None:
        return
    # Authorised on every use, like a message: only the holder's edits reach the person.
    if not await forum.staff.authorise(
        user.id, "edit", ticket_id=ticket.id, where="topic", chat_id=message.chat_id
    ):
        return
    if ticket.state != "claimed" or ticket.claimed_by != user.id:
        return
    await forum.follow_edit(ticket, staff_message_id=message.message_id, text=message.text)


async def on_staff_command(update: Update, context: Context) -> None:
    """/claim /release /resolve /answer /duty /queue /stats /alias in a staff group."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not message.text:
        return
    forum = _forum(context)
    name = message.text.split()[0][1:].split("@")[0].lower()
    args = context.args or []
    chat_id = message.chat_id
    thread = message.message_thread_id if message.is_topic_message else None
    in_topic = forum.tickets.ticket_for_thread(chat_id, thread) if thread is not None else None
    if name == "duty":
        text = await forum.duty(user, chat_id, args[0].lower() if args else "")
    elif name == "queue":
        text = await forum.queue_text(user, chat_id)
    elif name == "stats":
        text = await forum.stats_text(user, chat_id)
    elif name == "alias":
        text = await forum.set_alias(user, " ".join(args))
    elif name == "answer":
        if in_topic is None:
            text = forum.tr.gettext("Send /answer in the topic of an open ticket.")
        else:
            text = await forum.answer(user, in_topic, args[0] if args else None)
    else:
        ticket_id = in_topic.id if in_topic is not None else None
        if args:
            ticket_id = parse_id(args[0].removeprefix("#"))  # None: not a ticket number at all
        if ticket_id is None:
            text = forum.tr.gettext(
                "Send /{command} in a ticket's topic, or /{command} NUMBER.", command=name
            )
        else:
            text = await forum.staff_action(user, name, ticket_id, "command", chat_id)
    await _reply(message, _unescape(text))


async def on_staff_button(update: Update, context: Context) -> None:
    """Claim, Release, Resolve on a card: authorised on every press, the card updated."""
    query = update.callback_query
    assert query is not None
    forum = _forum(context)
    data = query.data if isinstance(query.data, str) else ""
    action_code, _, number = data[len(BUTTON) :].partition(":")
    action = _BUTTON_ACTIONS.get(action_code)
    message = query.message
    in_staff_group = message is not None and message.chat.id in forum.chat_ids
    ticket_id = parse_id(number)
    if action is None or ticket_id is None or message is None or not in_staff_group:
        await forum.staff.authorise(query.from_user.id, "button", where="other chat")
        with contextlib.suppress(TelegramError):
            await query.answer()
        raise ApplicationHandlerStop
    text = _unescape(await forum.staff_action(query.from_user, action, ticket_id, "button", message.chat.id))
    with contextlib.suppress(TelegramError):
        await query.answer(text[:200], show_alert=True)
    with contextlib.suppress(TicketNotFound, TelegramError):
        ticket = forum.tickets.ticket(ticket_id)
        if isinstance(message, Message):
            await message.edit_text(forum.card_text(ticket), reply_markup=forum.card_buttons(ticket))
    raise ApplicationHandlerStop


async def on_foreign_staff_command(update: Update, context: Context) -> None:
    """A staff command outside the staff groups (a private chat, another group): nothing done, logged."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or not message.text:
        return
    name = message.text.split()[0][1:].split("@")[0].lower()
    where = "private chat" if chat.type == chat.PRIVATE else "other group"
    forum = _forum(context)
    if chat.type == chat.PRIVATE:
        # Not a staff action: a person guessing commands. Their id is not written to the audit
        # log (it would outlive /forget); the dialogue answers as for any unknown command.
        forum.foreign_commands += 1
        logger.info("A staff command in a private chat was not taken (%d so far)", forum.foreign_commands)
        return
    if not await forum.staff.is_staff(user.id):
        forum.tickets.record_forged(user.id, name, None, where)
        logger.warning("A staff command by someone who is not staff was refused (%s)", where)
    raise ApplicationHandlerStop  # other groups are ignored altogether


async def on_member_change(update: Update, context: Context) -> None:
    """Someone joined or left a staff group: ask Telegram again next time."""
    change = update.chat_member
    if change is not None:
        _forum(context).staff.forget_member(change.new_chat_member.user.id)


async def relay_job(context: Context) -> None:
    """Resume pending copies, delete forgotten people's topics, erase phones from cards, mention waits."""
    forum = _forum(context)
    await forum.resume()
    await forum.clean_up_forgotten()
    await forum.erase_phones_from_cards()  # a few rows at most: cards of open call-backs and meetings
    await forum.mention_overdue()


async def housekeeping_job(context: Context) -> None:
    """Retention of tickets, relay pairs and unused topics."""
    await _forum(context).housekeeping()


async def _reply(message: Message, text: str) -> None:
    with contextlib.suppress(TelegramError):
        await message.reply_text(text, do_quote=False)


def install(application: Application[Any, Any, Any, Any, Any, Any], forum: StaffForum) -> None:
    """Add the forum's handlers and jobs to the application (the dialogue's own stay in group 0)."""
    application.bot_data["staff_forum"] = forum
    staff_chats = filters.Chat(chat_id=list(forum.chat_ids))
    private = filters.ChatType.PRIVATE
    # Note: order matters. Group -2: staff commands outside the staff groups are refused and
    # logged. Group -1: a relaying person's messages are taken before the dialogue answers
    # (ApplicationHandlerStop), and everything in the staff groups is handled here.
    application.add_handler(
        CommandHandler(list(STAFF_COMMANDS), on_foreign_staff_command, filters=~staff_chats), group=-2
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, on_person_message),
        group=-1,
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_person_edit), group=-1
    )
    application.add_handler(CallbackQueryHandler(on_staff_button, pattern=f"^{BUTTON}"), group=-1)
    application.add_handler(
        CommandHandler(
            list(STAFF_COMMANDS), on_staff_command, filters=staff_chats & filters.UpdateType.MESSAGE
        ),
        group=-1,
    )
    application.add_handler(
        MessageHandler(
            staff_chats & filters.UpdateType.MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL,
            on_staff_message,
        ),
        group=-1,
    )
    application.add_handler(
        MessageHandler(staff_chats & filters.UpdateType.EDITED_MESSAGE, on_staff_edit), group=-1
    )
    application.add_handler(ChatMemberHandler(on_member_change, ChatMemberHandler.CHAT_MEMBER), group=-1)
    if application.job_queue is not None:
        # first=0: at start-up, copies a killed process left pending go out before anything new.
        application.job_queue.run_repeating(relay_job, interval=RELAY_JOB_INTERVAL, first=0)
        application.job_queue.run_repeating(housekeeping_job, interval=HOUSEKEEPING_INTERVAL, first=120)
