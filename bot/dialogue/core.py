"""The conversation, independent of Telegram: events in, replies out.

Each public coroutine handles one kind of event from a front-end (Telegram or the console)
and returns the replies to send, in order. Each event is one unit of work: the user is read
once, the dialogue decides (asking the NLU or the desk if it must), and what changed is
written once, in one transaction, at the end. State that must survive a restart lives in
the store; the per-user inbound limit is a cache of the last minute. What the person asked
about is remembered by topic name only (the last few answers served), for the staff's card.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.content.i18n import native_name, negotiate_language
from bot.content.library import ContentLibrary, ServedAnswer, Translator
from bot.content.topics import COUNSELLOR, MENU, is_topic
from bot.dialogue.desk import CounsellorDesk, InformationDesk
from bot.dialogue.limiter import InboundLimiter
from bot.dialogue.replies import (
    FORGET_NO,
    FORGET_YES,
    LANGUAGE,
    SWITCH,
    TOPIC,
    Button,
    Reply,
    rows,
)
from bot.dialogue.replies import (
    MENU as MENU_DATA,
)
from bot.nlu.client import NLUUnavailable, Prediction
from bot.nlu.intents import FALLBACK_INTENT
from bot.nlu.resilient import Understanding
from bot.store.db import CONVERSATION_IDLE, Store, User

logger = logging.getLogger(__name__)

COMMANDS = ("start", "menu", "language", "help", "appointment", "forget", "cancel")
# Intents that say little about the question: never offered as "did you mean" buttons.
_SMALL_TALK = frozenset({"greet", "thanks", "goodbye", "bot_challenge", "change_language",
                         "out_of_scope", FALLBACK_INTENT})  # fmt: skip
# Language detection on "ok" or "merci" is a guess: only longer messages count towards
# offering to switch language.
_MIN_CHARS_FOR_LANGUAGE = 12


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds of the conversation, from settings."""

    confidence_threshold: float = 0.45  # the FallbackClassifier threshold of config.yml
    unsure_turns_before_counsellor: int = 2
    foreign_turns_before_switch: int = 2
    messages_per_minute: int = 20
    retention_days: int = 180
    conversation_idle: timedelta = CONVERSATION_IDLE
    """After this long without a message, the topics asked about are forgotten (a new conversation)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event decided: the user as they should be stored, and the replies."""

    user: User | None
    """None when nothing is to be stored (the user was just deleted, or is not kept yet)."""
    language: str
    replies: list[Reply]


class Dialogue:
    """The assistant's side of the conversation."""

    def __init__(
        self,
        library: ContentLibrary,
        nlu: Understanding,
        store: Store,
        *,
        desk: CounsellorDesk | None = None,
        default_language: str = "en",
        policy: Policy = Policy(),
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.library = library
        self.nlu = nlu
        self.store = store
        self.desk: CounsellorDesk = desk or InformationDesk()
        self.default_language = default_language
        self.policy = policy
        self.limiter = InboundLimiter(policy.messages_per_minute, timer=timer)

    # -- events ----------------------------------------------------------------------------

    async def start(
        self, user_id: str, language_code: str | None = None, payload: str | None = None
    ) -> list[Reply]:
        """`/start`: choose a language (preset by a deep link), then privacy and menu."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        user = self._current(loaded).but(pending=None, active=True)
        payload = (payload or "").strip().lower()
        if payload in self.library.languages:
            return self._finish(loaded, self._chosen_language(user, payload))
        language = self._language(user, language_code)
        keyboard = [self._language_keyboard(language)]
        if not loaded.is_stored:
            # Nothing is kept before the language is chosen: the privacy notice comes with
            # that choice (or with whatever the user does first), in the language chosen.
            return keyboard
        return self._finish(loaded, Outcome(user, language, keyboard))

    async def text(self, user_id: str, text: str, language_code: str | None = None) -> list[Reply]:
        """A free-text message: understand it and answer in the user's language."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        return self._finish(loaded, await self._on_text(self._current(loaded), text, language_code))

    async def button(self, user_id: str, data: str, language_code: str | None = None) -> list[Reply]:
        """A tapped button; data that is not ours (forged or stale) gets the menu."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        return self._finish(loaded, await self._on_button(self._current(loaded), data, language_code))

    async def command(self, user_id: str, name: str, language_code: str | None = None) -> list[Reply]:
        """`/menu`, `/language`, `/help`, `/appointment`, `/forget`, `/cancel`."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        return self._finish(loaded, await self._on_command(self._current(loaded), name, language_code))

    async def non_text(self, user_id: str, language_code: str | None = None) -> list[Reply]:
        """A voice note, photo, sticker, file or location: we read text only."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        return self._finish(loaded, self._text_only(self._current(loaded), language_code))

    async def contact(self, user_id: str, phone_number: str, language_code: str | None = None) -> list[Reply]:
        """The user's own phone number, shared with Telegram's button: for the desk, if it asked."""
        limited = self._limit(user_id, language_code)
        if limited is not None:
            return limited
        loaded = self.store.load_user(user_id)
        current = self._current(loaded)
        language = self._language(current, language_code)
        user = current.but(active=True, language=language)
        taken = await self.desk.contact(user, phone_number, language)
        if taken is None:
            return self._finish(loaded, self._text_only(current, language_code))
        return self._finish(loaded, Outcome(user, language, taken))

    def _current(self, loaded: User) -> User:
        """The user as this event starts: after a long silence, the topics asked belong to the past."""
        topics = loaded.topics_now(self.store.clock.now(), self.policy.conversation_idle)
        return loaded if topics == loaded.asked_topics else loaded.but(asked_topics=topics)

    def blocked(self, user_id: str) -> None:
        """The user blocked the assistant: stop writing to them."""
        self.store.mark_inactive(user_id)

    # -- deciding --------------------------------------------------------------------------

    async def _on_text(self, loaded: User, text: str, language_code: str | None) -> Outcome:
        user = loaded.but(pending=None, active=True)
        taken = await self.desk.intercept(user, text)
        if taken is not None:
            return Outcome(user, self._language(user, language_code), taken)
        try:
            prediction = await self.nlu.parse(text)
        except NLUUnavailable:
            language = self._language(user, language_code)
            return Outcome(user.but(language=language), language, [self._degraded(language)])
        user, switch_offer = self._follow_language(user, prediction, text, language_code)
        language = user.language or self.default_language
        user, replies = await self._answer_prediction(user, prediction, language)
        if switch_offer is not None:
            replies.append(switch_offer)
        return Outcome(user, language, replies)

    async def _on_button(self, loaded: User, data: str, language_code: str | None) -> Outcome:
        user = loaded.but(active=True)
        language = self._language(user, language_code)
        if data.startswith(LANGUAGE) and data[len(LANGUAGE) :] in self.library.languages:
            return self._chosen_language(user, data[len(LANGUAGE) :])
        if data.startswith(SWITCH) and data[len(SWITCH) :] in self.library.languages:
            new = data[len(SWITCH) :]
            user = user.but(language=new, language_chosen=True, foreign_streak=0, foreign_language=None)
            tr = self.library.translator(new)
            return Outcome(user, new, [Reply(tr.gettext("I will answer in {language} from now on.",
                                                        language=native_name(new)),
                                             self._menu_buttons(new), key="language_switched")])  # fmt: skip
        if data.startswith(TOPIC) and is_topic(data[len(TOPIC) :]):
            user = _asked(user.but(pending=None, unsure_streak=0), data[len(TOPIC) :])
            replies = await self._answer_intent(user, data[len(TOPIC) :], language)
            return Outcome(user.but(language=language), language, replies)
        if data == MENU_DATA:
            return Outcome(user.but(language=language, pending=None), language, [self._menu(language)])
        if data in (FORGET_YES, FORGET_NO) and user.pending == "forget":
            return await self._confirm_forget(user, language, data == FORGET_YES)
        user = user.but(language=language)
        taken = await self.desk.button(user, data, language)
        if taken is not None:
            return Outcome(user, language, taken)
        tr = self.library.translator(language)
        return Outcome(user, language, [Reply(tr.gettext("This button is no longer valid. Here is the menu."),
                                              self._topic_rows(language), key="stale_button")])  # fmt: skip

    async def _on_command(self, loaded: User, name: str, language_code: str | None) -> Outcome:
        language = self._language(loaded, language_code)
        user = loaded.but(active=True, language=language)
        tr = self.library.translator(language)
        if name == "forget":
            return Outcome(user.but(pending="forget"), language, [Reply(
                tr.gettext("Delete everything I keep about you (your language and settings)?"
                           " This cannot be undone."),
                ((Button(tr.gettext("Yes, delete"), FORGET_YES),
                  Button(tr.gettext("No, keep"), FORGET_NO)),),
                key="forget_question",
            )])  # fmt: skip
        user = user.but(pending=None)
        if not (name == "cancel" and loaded.pending):  # the dialogue's own question comes first
            taken = await self.desk.command(user, name, language)
            if taken is not None:
                return Outcome(user, language, taken)
        if name == "language":
            replies = [self._language_keyboard(language)]
        elif name == "help":
            replies = [Reply(self._help_text(tr), self._menu_buttons(language), key="help")]
        elif name == "appointment":  # a desk without meetings: how to reach a counsellor
            replies = await self._answer_intent(user, COUNSELLOR, language)
        elif name == "cancel":
            text = (tr.gettext("Cancelled. Nothing was deleted.") if loaded.pending
                    else tr.gettext("There is nothing to cancel."))  # fmt: skip
            replies = [Reply(text, self._menu_buttons(language), key="cancelled")]
        else:
            replies = [self._menu(language)]
        return Outcome(user, language, replies)

    def _finish(self, loaded: User, outcome: Outcome) -> list[Reply]:
        """Show the privacy notice at the first contact, then write what changed, once."""
        user, replies = outcome.user, outcome.replies
        if user is None:
            return replies
        if not user.privacy_shown:
            replies = [self._privacy(outcome.language), *replies]
            user = user.but(privacy_shown=True)
        self.store.save_user(user, loaded=loaded)
        return replies

    # -- understanding ---------------------------------------------------------------------

    def _follow_language(
        self, user: User, prediction: Prediction, text: str, language_code: str | None
    ) -> tuple[User, Reply | None]:
        """Adopt the detected language until the user chooses; after that, offer to switch."""
        detected = prediction.language if prediction.language in self.library.languages else None
        if not user.language_chosen:
            language = detected or self._language(user, language_code)
            return user.but(language=language), None
        if detected is None or detected == user.language or len(text.strip()) < _MIN_CHARS_FOR_LANGUAGE:
            return user.but(foreign_streak=0, foreign_language=None), None
        streak = user.foreign_streak + 1 if user.foreign_language == detected else 1
        user = user.but(foreign_language=detected, foreign_streak=streak)
        if streak < self.policy.foreign_turns_before_switch:
            return user, None
        user = user.but(foreign_streak=0)
        tr = self.library.translator(detected)
        offer = Reply(
            tr.gettext("Would you like me to answer in {language}?",
                       language=native_name(detected)),
            ((Button(native_name(detected), SWITCH + detected),),),
            key="language_offer",
        )  # fmt: skip
        return user, offer

    def _is_unsure(self, prediction: Prediction) -> bool:
        return prediction.is_fallback or prediction.confidence < self.policy.confidence_threshold

    async def _answer_prediction(
        self, user: User, prediction: Prediction, language: str
    ) -> tuple[User, list[Reply]]:
        if not self._is_unsure(prediction):
            user = _asked(user.but(unsure_streak=0), prediction.intent)
            return user, await self._answer_intent(user, prediction.intent, language)
        streak = user.unsure_streak + 1
        counsellor_first = streak >= self.policy.unsure_turns_before_counsellor
        return user.but(unsure_streak=streak), [
            self._unsure(prediction, language, counsellor_first=counsellor_first)
        ]

    async def _answer_intent(self, user: User, intent: str, language: str) -> list[Reply]:
        if intent == COUNSELLOR:
            offered = await self.desk.offer(user, language)
            if offered is not None:
                return offered
        served = self.library.answer(intent, language)
        replies = [self._answer_reply(served, language)]
        if intent == "change_language":
            replies.append(self._language_keyboard(language))
        return replies

    # -- replies ---------------------------------------------------------------------------

    def _answer_reply(self, served: ServedAnswer, language: str) -> Reply:
        tr = self.library.translator(language)
        text = served.text if served.note is None else f"<i>{served.note}</i>\n\n{served.text}"
        related = [Button(tr.label(topic), TOPIC + topic) for topic in served.related
                   if topic != COUNSELLOR]  # fmt: skip
        closing = [
            Button(tr.label(COUNSELLOR), TOPIC + COUNSELLOR),
            Button(tr.gettext("Menu"), MENU_DATA),
        ]
        if served.intent == COUNSELLOR:
            closing = closing[1:]
        return Reply(text, (*rows(related), tuple(closing)), key=served.intent)

    def _unsure(self, prediction: Prediction, language: str, *, counsellor_first: bool) -> Reply:
        tr = self.library.translator(language)
        guesses = [score.intent for score in prediction.ranking
                   if is_topic(score.intent) and score.intent not in _SMALL_TALK
                   and score.intent != COUNSELLOR][:2]  # fmt: skip
        topic_buttons = [Button(tr.label(intent), TOPIC + intent) for intent in guesses]
        counsellor = Button(tr.label(COUNSELLOR), TOPIC + COUNSELLOR)
        menu = Button(tr.gettext("All topics"), MENU_DATA)
        if counsellor_first:
            text = tr.gettext(
                "I am sorry, I still did not understand. A counsellor can answer you in person."
                " Or choose a topic:"
            )
            layout = ((counsellor,), *rows(topic_buttons), (menu,))
        else:
            text = (tr.gettext("I am not sure I understood. Did you mean one of these?") if guesses
                    else tr.gettext("I am not sure I understood. Choose a topic, or write your"
                                    " question in other words."))  # fmt: skip
            layout = (*rows(topic_buttons), (menu, counsellor))
        return Reply(text, layout, key="unsure")

    def _degraded(self, language: str) -> Reply:
        tr = self.library.translator(language)
        text = tr.gettext(
            "Sorry, I cannot read free text right now. Please choose a topic, or talk to a counsellor."
        )
        return Reply(text, self._topic_rows(language), key="nlu_down")

    def _menu(self, language: str) -> Reply:
        tr = self.library.translator(language)
        return Reply(
            tr.gettext("Choose a topic, or type your question:"), self._topic_rows(language), key="menu"
        )

    def _topic_rows(self, language: str) -> tuple[tuple[Button, ...], ...]:
        tr = self.library.translator(language)
        topics = [Button(tr.label(topic), TOPIC + topic) for topic in MENU if topic != COUNSELLOR]
        return (*rows(topics), (Button(tr.label(COUNSELLOR), TOPIC + COUNSELLOR),))

    def _menu_buttons(self, language: str) -> tuple[tuple[Button, ...], ...]:
        tr = self.library.translator(language)
        return (
            (
                Button(tr.gettext("Menu"), MENU_DATA),
                Button(tr.label(COUNSELLOR), TOPIC + COUNSELLOR),
            ),
        )

    def _language_keyboard(self, preselected: str) -> Reply:
        prompts = [self.library.translator(language).gettext("Choose your language")
                   for language in self.library.languages]  # fmt: skip
        buttons = [
            Button(("✓ " if language == preselected else "") + native_name(language),
                   LANGUAGE + language)
            for language in self.library.languages
        ]  # fmt: skip
        return Reply(" · ".join(dict.fromkeys(prompts)), rows(buttons), key="language_keyboard")

    def _privacy(self, language: str) -> Reply:
        tr = self.library.translator(language)
        return Reply(self._privacy_text(tr), key="privacy")

    def _privacy_text(self, tr: Translator) -> str:
        return tr.gettext(
            "<b>Your privacy</b>\n"
            "I keep your language and where our conversation stands, not your questions,"
            " for at most {days} days after your last message.\n"
            "For a meeting or a call-back I also keep its time, type, language, topics and"
            " your note, and your phone number only if a counsellor must call you. The"
            " number and the note are deleted once it is over.\n"
            "If you write with a counsellor here, your messages stay in the counsellors'"
            " Telegram group, not with me.\n"
            "Counsellors see a code, never your Telegram name.\n"
            "Send /forget at any time: it cancels your meetings and deletes everything,"
            " also in the counsellors' group.",
            days=self.policy.retention_days,
        )

    def _help_text(self, tr: Translator) -> str:
        text = tr.gettext(
            "I answer questions about voluntary return from Belgium and help after return."
            " Write your question in your own words, or use the buttons.\n\n"
            "/menu – all topics\n/language – change language\n/forget – delete your data\n"
            "/cancel – stop what you started\n/help – this message"
        )
        # A line of its own, so that the translations of the lines above stay valid.
        return text + "\n" + tr.gettext("/appointment – your meeting with a counsellor")

    def _chosen_language(self, user: User, language: str) -> Outcome:
        tr = self.library.translator(language)
        user = user.but(language=language, language_chosen=True, foreign_streak=0,
                        foreign_language=None, pending=None)  # fmt: skip
        replies = [Reply(tr.gettext("I will answer in {language} from now on.",
                                    language=native_name(language)), key="language_chosen")]  # fmt: skip
        if not user.privacy_shown:  # here, after the confirmation: in the language just chosen
            replies.append(self._privacy(language))
        replies.append(self._menu(language))
        return Outcome(user.but(privacy_shown=True), language, replies)

    async def _confirm_forget(self, user: User, language: str, confirmed: bool) -> Outcome:
        tr = self.library.translator(language)
        if not confirmed:
            return Outcome(user.but(pending=None), language,
                           [Reply(tr.gettext("Nothing was deleted."), self._menu_buttons(language),
                                  key="forget_declined")])  # fmt: skip
        # One transaction: the desk withdraws the user's meetings (freeing their places), then
        # every row about the user goes; if anything fails, nothing is cancelled or deleted.
        with self.store.transaction():
            after = self.desk.forget(user.id, language)
            self.store.forget_user(user.id)
        self.limiter.forget(user.id)
        logger.info("A user deleted their data")
        await after()  # e.g. staff are told, by reference, which meetings are cancelled
        text = tr.gettext("Done: everything I kept about you is deleted. Send /start to begin again.")
        return Outcome(None, language, [Reply(text, key="forgotten")])

    def _text_only(self, loaded: User, language_code: str | None) -> Outcome:
        language = self._language(loaded, language_code)
        tr = self.library.translator(language)
        text = tr.gettext(
            "I can only read text messages. Please type your question, or choose a topic."
            " You can also talk to a counsellor."
        )
        reply = Reply(text, self._topic_rows(language), key="text_only")
        return Outcome(loaded.but(active=True, language=language), language, [reply])

    def _limit(self, user_id: str, language_code: str | None) -> list[Reply] | None:
        verdict = self.limiter.check(user_id)
        if verdict == "ok":
            return None
        if verdict == "drop":
            return []
        user = self.store.get_user(user_id)
        language = self._language(user, language_code) if user else self._negotiate(language_code)
        tr = self.library.translator(language)
        text = tr.gettext("You are sending many messages. Please wait a minute, then write again.")
        return [Reply(text, key="slow_down")]

    def _language(self, user: User, language_code: str | None) -> str:
        return user.language if user.language in self.library.languages else self._negotiate(language_code)

    def _negotiate(self, language_code: str | None) -> str:
        return negotiate_language(language_code, self.library.languages, self.default_language)


def _asked(user: User, intent: str) -> User:
    """Remember an answered topic by name for the staff's card (not small talk, not "a counsellor")."""
    if not is_topic(intent) or intent in _SMALL_TALK or intent == COUNSELLOR:
        return user
    return user.asking(intent)
