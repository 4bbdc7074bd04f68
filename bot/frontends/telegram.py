"""The Telegram front-end: python-telegram-bot handlers that translate to the dialogue core.

Handlers stay thin: they turn an update into a dialogue event and the replies into Bot API
calls. The whole flow is wired in `build_application`, top to bottom.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut
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

from bot.content.topics import N_
from bot.dialogue.core import COMMANDS
from bot.dialogue.replies import Reply
from bot.nlu.service import nlu_service
from bot.services import Services
from bot.settings import Settings

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
MAX_TEXT = 4096


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context, with the assistant's services typed."""

    @property
    def services(self) -> Services:
        """Return the services stored on the application at start."""
        services: Services = self.application.bot_data["services"]
        return services


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Process updates of different chats concurrently, and those of one chat in order."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # chat id -> (its lock, how many updates of that chat are in flight)
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await `coroutine` once earlier updates of the same chat are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, waiting = self._chats.get(chat.id, (asyncio.Lock(), 0))
        self._chats[chat.id] = (lock, waiting + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, waiting = self._chats[chat.id]
            if waiting == 1:
                del self._chats[chat.id]  # idle chats hold no memory
            else:
                self._chats[chat.id] = (lock, waiting - 1)

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


async def send_replies(context: Context, chat_id: int, user_key: str, replies: list[Reply]) -> None:
    """Send replies in order; retry transient failures; mark users who blocked us."""
    for reply in replies:
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await context.bot.send_message(
                    chat_id,
                    reply.text[:MAX_TEXT],
                    parse_mode=ParseMode.HTML,
                    reply_markup=_markup(reply),
                    disable_web_page_preview=True,
                )
                break
            except Forbidden:
                logger.info("A user blocked the assistant; marked inactive")
                context.services.dialogue.blocked(user_key)
                return
            except RetryAfter as error:
                delay = error.retry_after
                seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
                await asyncio.sleep(seconds)
            except (TimedOut, NetworkError) as error:
                if attempt == SEND_ATTEMPTS:
                    raise
                logger.warning("Sending failed (%s), retrying", type(error).__name__)
                await asyncio.sleep(0.5 * attempt)


# -- handlers: one step each -----------------------------------------------------------------


async def on_start(update: Update, context: Context) -> None:
    """`/start` (with an optional deep-link language): language choice or straight to the menu."""
    assert update.effective_chat is not None
    payload = context.args[0] if context.args else None
    replies = await context.services.dialogue.start(_user_key(update), _language_code(update), payload)
    await send_replies(context, update.effective_chat.id, _user_key(update), replies)


async def on_command(update: Update, context: Context) -> None:
    """`/menu`, `/language`, `/help`, `/forget`, `/cancel`."""
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
    with contextlib.suppress(TimedOut, NetworkError):
        await query.answer()  # stops the button's spinner; the reply follows as messages
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return
    data = query.data if isinstance(query.data, str) else ""
    replies = await context.services.dialogue.button(_user_key(update), data, _language_code(update))
    await send_replies(context, chat.id, _user_key(update), replies)


async def on_non_text(update: Update, context: Context) -> None:
    """Voice, photo, sticker, document, location, contact: we read text only."""
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
    user = services.store.get_user(_user_key(update))
    language = user.language if user and user.language else services.settings.default_language
    text = services.library.translator(language).gettext(
        "Sorry, something went wrong on my side. Please try again, or send /menu."
    )
    with contextlib.suppress(Exception):  # an apology that fails must not raise again
        await context.bot.send_message(update.effective_chat.id, text)


async def purge_inactive(context: Context) -> None:
    """Delete users who have not written within the retention period."""
    services = context.services
    deleted = services.store.purge_inactive(timedelta(days=services.settings.retention_days))
    if deleted:
        logger.info("Retention: deleted %d inactive user(s)", deleted)


async def register_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the command list with Telegram, per language (`setMyCommands`)."""
    services: Services = application.bot_data["services"]
    descriptions = {
        "menu": N_("All topics"),
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
    settings: Settings, services: Services, **request_options: float
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the python-telegram-bot application around the services."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_url.removesuffix("/bot") + "/file/bot")
        .context_types(ContextTypes(context=Context))
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.outbound_messages_per_second, max_retries=3))
        .concurrent_updates(PerChatUpdateProcessor(256))
        .connect_timeout(request_options.get("connect_timeout", 5.0))
        .read_timeout(request_options.get("read_timeout", 10.0))
        .build()
    )
    application.bot_data["services"] = services
    # Note: order matters. Commands first, so that "/menu" is never read as a question;
    # edited messages are filtered out (UpdateType.MESSAGE), so nothing is answered twice.
    application.add_handler(CommandHandler("start", on_start, filters=private))
    application.add_handler(
        CommandHandler([name for name in COMMANDS if name != "start"], on_command, filters=private)
    )
    application.add_handler(MessageHandler(private & filters.TEXT, on_text))
    application.add_handler(MessageHandler(private & ~filters.TEXT, on_non_text))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)
    if application.job_queue is not None:
        application.job_queue.run_repeating(purge_inactive, interval=timedelta(hours=6), first=60)
    return application


@contextlib.asynccontextmanager
async def receiving(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings, *, poll_timeout: int = 10
) -> AsyncIterator[None]:
    """Start the application and receive updates (webhook or polling) until the block ends."""
    async with application:
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
            )
        else:
            await application.updater.start_polling(poll_interval=0, timeout=poll_timeout)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM, with the NLU service it needs."""
    settings.require_token()
    async with nlu_service(settings, require_configured=True) as url:
        services = Services.create(settings, url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with receiving(build_application(settings, services), settings):
                logger.info("The assistant is running; Ctrl-C stops it")
                await stop.wait()
        finally:
            await services.aclose()


def run_telegram(settings: Settings) -> int:
    """Serve the assistant on Telegram until interrupted."""
    asyncio.run(serve(settings))
    return 0
