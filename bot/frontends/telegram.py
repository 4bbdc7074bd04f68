"""The Telegram front-end: python-telegram-bot handlers that translate to the dialogue core.

Handlers stay thin: they turn an update into a dialogue event and the replies into Bot API
calls. The whole flow is wired in `build_application`, top to bottom.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.booking.models import PersonNotice, Reminder
from bot.content.topics import COUNSELLOR, N_
from bot.dialogue.core import COMMANDS
from bot.dialogue.replies import MENU, TOPIC, Button, Reply
from bot.frontends.staff_forum import StaffForum
from bot.frontends.staff_forum import install as install_staff_forum
from bot.handoff.desk import TicketBoard
from bot.nlu.service import nlu_service
from bot.services import Services
from bot.settings import Settings
from bot.startup import StartupError, check_before_start, open_services

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
"""Tries of one message against time-outs and server errors (see `_send`)."""
RATE_LIMIT_RETRIES = 3
"""Retries of one request that Telegram answered with 429 (see `build_application`)."""
BOOKING_PURGE_INTERVAL = timedelta(days=1)
_T = TypeVar("_T")


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context, with the assistant's services typed."""

    @property
    def services(self) -> Services:
        """Return the services stored on the application at start."""
        services: Services = self.application.bot_data["services"]
        return services

    @property
    def contact_keyboards(self) -> set[int]:
        """Chats showing the "share my phone number" keyboard, removed once no step asks for a number.

        A cache: after a restart the keyboard stays until used (it is one-time), and a
        number shared when no step asks for one gets the "text only" answer.
        """
        chats: set[int] = self.application.bot_data["contact_keyboards"]
        return chats


@dataclass
class _ChatTurn:
    """One chat's place in line: its updates take the lock in order."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Process updates of different chats concurrently, and those of one chat in order.

    An update first waits for its chat's turn and only then for one of the
    `max_concurrent_updates` slots, so that a chat with a backlog holds at most one slot and
    never delays the other chats. python-telegram-bot's `process_update` takes the slot
    first, then calls `do_process_update`: it is overridden (it is marked final for type
    checkers only) to take the chat's turn before calling it.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # Only chats with updates in flight are here: an idle chat's entry is removed.
        self._chats: dict[int, _ChatTurn] = {}

    @property
    def busy_chats(self) -> int:
        """How many chats have updates waiting or in progress."""
        return len(self._chats)

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        """Await `coroutine` once earlier updates of its chat are done and a slot is free."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await super().process_update(update, coroutine)
            return
        turn = self._chats.setdefault(chat.id, _ChatTurn())
        turn.waiting += 1
        try:
            async with turn.lock:
                await super().process_update(update, coroutine)
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                del self._chats[chat.id]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handlers (the chat's turn and a slot are held)."""
        await coroutine

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def _user_key(update: Update) -> str:
    user = update.effective_user
    assert user is not None  # the filters only let private chats with a user through
    return f"tg:{user.id}"


def _language_code(update: Update) -> str | None:
    return update.effective_user.language_code if update.effective_user else None


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in reply.buttons]
    )


def _language_of(services: Services, user_key: str) -> str:
    """The language the user reads, from the store (for messages the dialogue did not write)."""
    user = services.store.get_user(user_key)
    return user.language if user and user.language else services.settings.default_language


def _apology(services: Services, user_key: str) -> Reply:
    """A short apology in the user's language, plain text, with the menu buttons."""
    tr = services.library.translator(_language_of(services, user_key))
    text = tr.gettext("Sorry, something went wrong on my side. Please try again, or send /menu.")
    menu = (Button(tr.gettext("Menu"), MENU), Button(tr.label(COUNSELLOR), TOPIC + COUNSELLOR))
    return Reply(text, (menu,), key="apology")


async def _retrying(request: Callable[[], Awaitable[_T]], what: str) -> _T:
    """Make one Bot API request, trying again after a time-out or a server error.

    Retries live in two places, one per kind of failure, never both: a 429 (`RetryAfter`) is
    retried by the `AIORateLimiter` (`RATE_LIMIT_RETRIES`), because it must pause every
    request of the bot, not only this one; time-outs and 5xx answers (the other
    `NetworkError`s) are retried here, as the rate limiter lets them through. A refusal
    (`BadRequest`, a `NetworkError` subclass, or `Forbidden`) is final and never retried.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await request()
        except BadRequest:
            raise
        except NetworkError as error:  # TimedOut, 5xx, connection failures
            if attempt == SEND_ATTEMPTS:
                raise
            logger.warning("Sending %s failed (%s), retrying", what, type(error).__name__)
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # the last attempt returned or raised


async def _send(
    bot: ExtBot[None], chat_id: int, reply: Reply, *, html: bool = True, remove_keyboard: bool = False
) -> None:
    """Send one message (see `_retrying`); with `remove_keyboard`, take the reply keyboard away.

    A message carries one markup: inline buttons or a change of the reply keyboard, and
    Telegram cannot edit inline buttons into a message that removed a keyboard. So only a
    reply without buttons removes it (see `send_replies`).
    """
    assert not (remove_keyboard and reply.buttons), "a message with buttons cannot remove a keyboard"
    markup = ReplyKeyboardRemove() if remove_keyboard else _markup(reply)
    await _retrying(
        lambda: bot.send_message(
            chat_id,
            reply.text,
            parse_mode=ParseMode.HTML if html else None,
            reply_markup=markup,
            disable_web_page_preview=True,
        ),
        reply.key or "a reply",
    )


async def _send_contact_keyboard(bot: ExtBot[None], services: Services, chat_id: int, user_key: str) -> None:
    """Offer Telegram's "share my phone number" button: a reply keyboard, in a message of its own."""
    tr = services.library.translator(_language_of(services, user_key))
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(tr.gettext("Share my phone number"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    text = tr.gettext("Or tap the button below to share the number of this Telegram account.")
    await _retrying(lambda: bot.send_message(chat_id, text, reply_markup=keyboard), "contact_keyboard")


async def _send_document(bot: ExtBot[None], chat_id: int, reply: Reply) -> None:
    """Send the reply's file (e.g. the meeting's .ics) after its text; the text stands without it."""
    assert reply.attachment is not None
    filename, data = reply.attachment
    try:
        what = f"the file of {reply.key or 'a reply'}"
        await _retrying(lambda: bot.send_document(chat_id, data, filename=filename), what)
    except BadRequest as error:
        logger.error("Telegram refused the file of %s: %s", reply.key or "(unnamed)", error.message)


async def deliver(
    bot: ExtBot[None], services: Services, chat_id: int, user_key: str, reply: Reply, *,
    remove_keyboard: bool = False, offer_keyboard: bool = True,
) -> None:  # fmt: skip
    """Send one reply: its text and buttons, the phone-number keyboard it asks for, its file."""
    await _send(bot, chat_id, reply, remove_keyboard=remove_keyboard)
    if reply.contact_request and offer_keyboard:
        await _send_contact_keyboard(bot, services, chat_id, user_key)
    if reply.attachment is not None:
        await _send_document(bot, chat_id, reply)


async def send_replies(context: Context, chat_id: int, user_key: str, replies: list[Reply]) -> None:
    """Send replies in order; a refused one becomes an apology; stop for users who blocked us.

    The phone-number keyboard is offered once while a step asks for a number, and taken away
    by the first reply without buttons after that; when every reply has buttons, a short
    message of its own takes it away first.
    """
    keyboards = context.contact_keyboards
    asks = any(reply.contact_request for reply in replies)
    remove_with: Reply | None = None
    if chat_id in keyboards and not asks:
        remove_with = next((reply for reply in replies if not reply.buttons), None)
        if remove_with is None:
            remove_with = Reply("✓", key="keyboard_removed")
            replies = [remove_with, *replies]
        keyboards.discard(chat_id)
    shown = chat_id in keyboards
    if asks:
        keyboards.add(chat_id)
    for reply in replies:
        try:
            await deliver(context.bot, context.services, chat_id, user_key, reply,
                          remove_keyboard=reply is remove_with, offer_keyboard=not shown)  # fmt: skip
        except Forbidden:
            logger.info("A user blocked the assistant; marked inactive")
            context.services.dialogue.blocked(user_key)
            return
        except BadRequest as error:
            # Telegram's description names the problem (markup, length), never the text.
            logger.error("Telegram refused the reply %s: %s", reply.key or "(unnamed)", error.message)
            await _apologise(context.bot, context.services, chat_id, user_key)


async def _apologise(bot: ExtBot[None], services: Services, chat_id: int, user_key: str) -> None:
    """Send the plain-text apology; one that fails is logged, never raised."""
    try:
        await _send(bot, chat_id, _apology(services, user_key), html=False)
    except TelegramError as error:
        logger.warning("The apology could not be sent either (%s)", type(error).__name__)


# -- handlers: one step each -----------------------------------------------------------------


async def on_start(update: Update, context: Context) -> None:
    """`/start` (with an optional deep-link language): language choice or straight to the menu."""
    assert update.effective_chat is not None
    payload = context.args[0] if context.args else None
    replies = await context.services.dialogue.start(_user_key(update), _language_code(update), payload)
    await send_replies(context, update.effective_chat.id, _user_key(update), replies)


async def on_command(update: Update, context: Context) -> None:
    """`/menu`, `/language`, `/help`, `/appointment`, `/forget`, `/cancel`."""
    assert update.effective_message is not None and update.effective_chat is not None
    name = (update.effective_message.text or "/menu").split()[0][1:].split("@")[0].lower()
    replies = await context.services.dialogue.command(_user_key(update), name, _language_code(update))
    await send_replies(context, update.effective_chat.id, _user_key(update), replies)


async def on_text(update: Update, context: Context) -> None:
    """A free-text question (unknown commands are read as text too)."""
    assert update.effective_message is not None and update.effective_chat is not None
    text = update.effective_message.text or ""
    replies = await context.services.dialogue.text(_user_key(update), text, _language_code(update))
    await send_replies(context, update.effective_chat.id, _user_key(update), replies)


async def on_button(update: Update, context: Context) -> None:
    """A tapped inline button."""
    query = update.callback_query
    assert query is not None
    with contextlib.suppress(NetworkError):  # time-outs, and "query is too old" (BadRequest)
        await query.answer()  # stops the button's spinner; the reply follows as messages
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return
    data = query.data if isinstance(query.data, str) else ""
    replies = await context.services.dialogue.button(_user_key(update), data, _language_code(update))
    await send_replies(context, chat.id, _user_key(update), replies)


async def on_contact(update: Update, context: Context) -> None:
    """A shared contact: the user's own number (the phone-number button) goes to the booking."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    assert message is not None and message.contact is not None and chat is not None and user is not None
    if message.contact.user_id != user.id:  # someone else's card: not a number they chose to give
        await on_non_text(update, context)
        return
    replies = await context.services.dialogue.contact(
        _user_key(update), message.contact.phone_number, _language_code(update)
    )
    await send_replies(context, chat.id, _user_key(update), replies)


async def on_non_text(update: Update, context: Context) -> None:
    """Voice, photo, sticker, document, location, someone else's contact: we read text only."""
    assert update.effective_chat is not None
    replies = await context.services.dialogue.non_text(_user_key(update), _language_code(update))
    await send_replies(context, update.effective_chat.id, _user_key(update), replies)


async def on_error(update: object, context: Context) -> None:
    """Log the failure (never the message) and apologise in the user's language."""
    logger.error("Handler failed: %s", type(context.error).__name__, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None or update.effective_user is None:
        return
    if update.effective_chat.type != update.effective_chat.PRIVATE:
        return
    services: Services = context.application.bot_data["services"]
    await _apologise(context.bot, services, update.effective_chat.id, _user_key(update))


async def purge_inactive(context: Context) -> None:
    """Delete users who have not written within the retention period."""
    services = context.services
    deleted = services.store.purge_inactive(timedelta(days=services.settings.retention_days))
    if deleted:
        logger.info("Retention: deleted %d inactive user(s)", deleted)


async def purge_bookings(context: Context) -> None:
    """Erase phone numbers and notes of meetings that are over, and rows past retention (counts logged)."""
    counts = context.services.bookings.purge(retention_days=context.services.settings.booking.retention_days)
    logger.info("Booking retention: %s", counts)


def _telegram_chat(user_key: str) -> int | None:
    """The private chat of a user key ("tg:<id>"); None for users of another front-end."""
    prefix, _, number = user_key.partition(":")
    return int(number) if prefix == "tg" and number.lstrip("-").isdigit() else None


async def send_due_messages(context: Context) -> None:
    """Send the reminders and the notices of staff changes that are due (the database decides).

    Each row is claimed by a conditional update before it is sent, so two runs (or two
    processes) never send it twice; one claimed by a run that died is sent again later.
    """
    bookings = context.services.bookings
    for reminder in bookings.due_reminders():
        try:
            await _send_reminder(context, reminder)
        except Exception:  # one bad row must not stop every later reminder, run after run
            logger.exception("Reminder %d (%s) failed; dropped", reminder.id, reminder.kind)
            bookings.drop_reminder(reminder.id, "error")
    for notice in bookings.due_notices():
        try:
            await _send_notice(context, notice)
        except Exception:
            logger.exception("Notice %d (%s) failed; dropped", notice.id, notice.kind)
            bookings.drop_notice(notice.id)


async def _send_reminder(context: Context, reminder: Reminder) -> None:
    services, bookings = context.services, context.services.bookings
    chat_id = _telegram_chat(reminder.booking.user_id)
    if chat_id is None or not bookings.claim_reminder(reminder.id):
        return
    user_key = reminder.booking.user_id
    reply = services.booking_desk.reminder_reply(
        reminder.booking, _language_of(services, user_key), reminder.kind
    )
    outcome = await _deliver_unprompted(context, chat_id, user_key, reply)
    if outcome == "sent":
        bookings.mark_reminder_sent(reminder.id)
    elif outcome != "later":
        bookings.drop_reminder(reminder.id, outcome)


async def _send_notice(context: Context, notice: PersonNotice) -> None:
    services, bookings = context.services, context.services.bookings
    chat_id = _telegram_chat(notice.user_id)
    if chat_id is None or not bookings.claim_notice(notice.id):
        return
    reply = services.booking_desk.staff_change_notice_reply(
        notice.kind, notice.booking, _language_of(services, notice.user_id)
    )
    outcome = await _deliver_unprompted(context, chat_id, notice.user_id, reply)
    if outcome == "sent":
        bookings.mark_notice_sent(notice.id)
    elif outcome != "later":
        bookings.drop_notice(notice.id)


async def _deliver_unprompted(context: Context, chat_id: int, user_key: str, reply: Reply) -> str:
    """Send a message the user did not ask for now; return "sent", "blocked", "refused" or "later"."""
    try:
        await deliver(context.bot, context.services, chat_id, user_key, reply)
    except Forbidden:
        logger.info("A user blocked the assistant before a %s; marked inactive", reply.key)
        context.services.dialogue.blocked(user_key)
        return "blocked"
    except BadRequest as error:
        logger.error("Telegram refused the %s: %s", reply.key, error.message)
        return "refused"
    except (NetworkError, RetryAfter) as error:  # still claimed: sent again once the claim is old
        logger.warning("Could not send a %s (%s); trying again later", reply.key, type(error).__name__)
        return "later"
    logger.info("Sent a %s", reply.key)
    return "sent"


async def register_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the command list with Telegram, per language (`setMyCommands`)."""
    services: Services = application.bot_data["services"]
    descriptions = {
        "menu": N_("All topics"),
        "appointment": N_("My meeting with a counsellor"),
        "language": N_("Change language"),
        "help": N_("How I can help"),
        "forget": N_("Delete my data"),
        "cancel": N_("Stop what I started"),
    }
    for language in [None, *services.library.languages]:
        tr = services.library.translator(language or "en")
        commands = [BotCommand(name, tr.gettext(text)) for name, text in descriptions.items()]
        await application.bot.set_my_commands(commands, language_code=language)


def build_application(
    settings: Settings,
    services: Services,
    *,
    concurrent_updates: int = 256,
    **request_options: float,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the python-telegram-bot application around the services."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_url.removesuffix("/bot") + "/file/bot")
        .context_types(ContextTypes(context=Context))
        # The one place where a 429 is retried: see `_send`.
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.outbound_messages_per_second, max_retries=RATE_LIMIT_RETRIES
            )
        )
        .concurrent_updates(PerChatUpdateProcessor(concurrent_updates))
        .connect_timeout(request_options.get("connect_timeout", 5.0))
        .read_timeout(request_options.get("read_timeout", 10.0))
        .build()
    )
    application.bot_data["services"] = services
    application.bot_data["contact_keyboards"] = set()
    if settings.handoff.routing.enabled:
        # The staff forum (issue 18): tickets in one topic per person, live relay, staff commands.
        # Bookings and call-backs become tickets there, instead of plain cards.
        forum = StaffForum(
            application.bot,
            services.handoff,
            services.library,
            bookings=services.bookings,
            staff_language=settings.handoff.staff_language,
        )
        services.handoff_desk.notifier = forum
        services.booking_desk.board = TicketBoard(services.handoff, services.bookings, forum)
        install_staff_forum(application, forum)
    # Note: order matters. Commands first, so that "/menu" is never read as a question;
    # edited messages are filtered out (UpdateType.MESSAGE), so nothing is answered twice.
    application.add_handler(CommandHandler("start", on_start, filters=private))
    application.add_handler(
        CommandHandler([name for name in COMMANDS if name != "start"], on_command, filters=private)
    )
    application.add_handler(MessageHandler(private & filters.TEXT, on_text))
    application.add_handler(MessageHandler(private & filters.CONTACT, on_contact))
    application.add_handler(MessageHandler(private & ~filters.TEXT, on_non_text))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)
    if application.job_queue is not None:
        # Reminders and notices are rows: this job sends what is due, at start (first=0) and
        # every JOBS_INTERVAL_SECONDS, so a restart or a crash loses none.
        application.job_queue.run_repeating(
            send_due_messages, interval=settings.jobs_interval_seconds, first=0, name="due messages"
        )
        application.job_queue.run_repeating(purge_inactive, interval=timedelta(hours=6), first=60)
        application.job_queue.run_repeating(purge_bookings, interval=BOOKING_PURGE_INTERVAL, first=90)
    return application


async def _start_receiving(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings, poll_timeout: int
) -> None:
    """Meet Telegram, register the commands, start the handlers, then the webhook or polling."""
    try:
        await application.initialize()
        forum = application.bot_data.get("staff_forum")
        if isinstance(forum, StaffForum):
            await forum.check()  # a staff group without topics or rights stops the start, in one line
        await register_commands(application)
        await application.start()
        assert application.updater is not None
        if settings.webhook_url:
            await application.updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path="telegram",
                webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,  # chat_member too: staff who join or leave
            )
        else:
            await application.updater.start_polling(
                poll_interval=0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
            )
    except InvalidToken:
        raise StartupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from @BotFather") from None
    except BadRequest as error:  # e.g. a webhook address Telegram does not accept
        raise StartupError(f"Telegram refused to start ({error.message}): check WEBHOOK_URL") from None
    except NetworkError as error:  # time-outs, refused connections, 5xx
        raise StartupError(
            f"cannot reach the Bot API ({error.message}): check the network or TELEGRAM_BASE_URL",
            exit_status=1,
        ) from None
    except OSError as error:  # the webhook server could not listen
        raise StartupError(
            f"cannot receive webhooks on {settings.webhook_listen}:{settings.webhook_port}"
            f" ({error.strerror or error}): stop what uses that port, or set WEBHOOK_PORT"
        ) from None


@contextlib.asynccontextmanager
async def receiving(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings, *, poll_timeout: int = 10
) -> AsyncIterator[None]:
    """Start the application and receive updates (webhook or polling) until the block ends.

    A start-up failure is a `StartupError`, raised once whatever had started is stopped.
    """
    try:
        await _start_receiving(application, settings, poll_timeout)
        yield
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM, with the NLU service it needs."""
    check_before_start(settings, telegram=True)
    # A signal cancels this task wherever it is, starting included: every block below then
    # stops what it started (Telegram, the database, a local NLU server).
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        async with nlu_service(settings, require_configured=True) as url:
            services = open_services(settings, url)
            for summary in services.library.draft_summary():  # topics and counts, never texts
                logger.info("%s", summary.describe())
            try:
                async with receiving(build_application(settings, services), settings):
                    logger.info("The assistant is running; Ctrl-C stops it")
                    await asyncio.Event().wait()  # until cancelled
            finally:
                await services.aclose()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_telegram(settings: Settings) -> int:
    """Serve the assistant on Telegram until interrupted."""
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve(settings))
    return 0
