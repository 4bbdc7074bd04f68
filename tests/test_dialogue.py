"""The dialogue core, without Telegram: real catalogs and store, a scripted understanding.

The NLU model itself is exercised in the integration and end-to-end tests; here a script
of predictions makes each conversational rule testable on its own.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import yaml
from sqlite_utils import Database

from bot.clock import FixedClock
from bot.content.library import ContentLibrary
from bot.dialogue.core import Dialogue, Policy
from bot.dialogue.desk import InformationDesk
from bot.dialogue.replies import FORGET_NO, FORGET_YES, LANGUAGE, MENU, SWITCH, TOPIC, Reply
from bot.nlu.client import IntentScore, NLUUnavailable, Prediction
from bot.nlu.intents import FALLBACK_INTENT
from bot.nlu.resilient import ResilientNLU
from bot.settings import PROJECT_ROOT
from bot.store.db import ForgetReason, Store, User

USER = "tg:42"


def predict(intent: str, confidence: float = 0.95, language: str = "en", *others: str) -> Prediction:
    ranking = (IntentScore(intent, confidence), *(IntentScore(o, 0.1) for o in others))
    return Prediction(intent, confidence, language, ranking)


class ScriptedNLU:
    """Answers each text with the prediction scripted for it; raises while `down`."""

    def __init__(self) -> None:
        self.script: dict[str, Prediction] = {}
        self.down = False
        self.calls = 0

    async def parse(self, text: str) -> Prediction:
        self.calls += 1
        if self.down:
            raise NLUUnavailable("down")
        return self.script[text]


@pytest.fixture
def nlu() -> ScriptedNLU:
    return ScriptedNLU()


@pytest.fixture
def dialogue(library: ContentLibrary, nlu: ScriptedNLU, store: Store) -> Dialogue:
    return Dialogue(library, nlu, store, policy=Policy(messages_per_minute=1000))


def data(replies: list[Reply]) -> list[str]:
    return [button.data for reply in replies for button in reply.choices]


async def choose(dialogue: Dialogue, language: str) -> None:
    await dialogue.button(USER, LANGUAGE + language)


async def test_dialogue_start_offers_languages_with_the_telegram_language_preselected(
    dialogue: Dialogue,
) -> None:
    [reply] = await dialogue.start(USER, language_code="fa-IR")
    labels = [button.label for button in reply.choices]
    assert "✓ فارسی" in labels and "Français" in labels and "Nederlands" in labels and "English" in labels
    assert {button.data for button in reply.choices} == {LANGUAGE + code for code in ("fa", "fr", "nl", "en")}


async def test_dialogue_language_choice_shows_privacy_then_menu(dialogue: Dialogue, store: Store) -> None:
    replies = await dialogue.button(USER, LANGUAGE + "nl")
    assert len(replies) == 3
    assert "/forget" in replies[1].text and "180" in replies[1].text  # privacy notice, in Dutch
    assert TOPIC + "eligibility" in data(replies[2:])
    user = store.get_user(USER)
    assert user is not None and user.language == "nl" and user.language_chosen and user.privacy_shown


async def test_dialogue_deep_link_presets_the_language(dialogue: Dialogue, store: Store) -> None:
    replies = await dialogue.start(USER, language_code="en", payload="fa")
    assert replies[-1].choices  # the menu, no language question
    user = store.get_user(USER)
    assert user is not None and user.language == "fa" and user.language_chosen


async def test_dialogue_answers_a_question_with_the_vetted_answer_and_follow_ups(
    dialogue: Dialogue, nlu: ScriptedNLU, library: ContentLibrary
) -> None:
    await choose(dialogue, "fr")
    nlu.script["c gratuit?"] = predict("costs", language="fr")
    [reply] = await dialogue.text(USER, "c gratuit?")
    assert reply.text == library.answer("costs", "fr").text
    assert TOPIC + "travel_documents" in data([reply])
    assert TOPIC + "talk_to_counsellor" in data([reply]) and MENU in data([reply])


async def test_dialogue_first_message_without_start_adopts_the_detected_language_and_shows_privacy(
    dialogue: Dialogue, nlu: ScriptedNLU, library: ContentLibrary, store: Store
) -> None:
    nlu.script["salam mikham bargardam"] = predict("package_overview", language="fa")
    replies = await dialogue.text(USER, "salam mikham bargardam", language_code="en")
    assert "/forget" in replies[0].text
    assert replies[1].text == library.answer("package_overview", "fa").text
    user = store.get_user(USER)
    assert user is not None and user.language == "fa" and not user.language_chosen


async def test_dialogue_chosen_language_wins_over_detected_language(
    dialogue: Dialogue, nlu: ScriptedNLU, library: ContentLibrary
) -> None:
    await choose(dialogue, "nl")
    nlu.script["how much money do i get"] = predict("cash_support", language="en")
    replies = await dialogue.text(USER, "how much money do i get")
    assert replies[0].text == library.answer("cash_support", "nl").text


async def test_dialogue_offers_to_switch_after_two_messages_in_another_language(
    dialogue: Dialogue, nlu: ScriptedNLU, store: Store
) -> None:
    await choose(dialogue, "nl")
    nlu.script["how much money do i get"] = predict("cash_support", language="en")
    nlu.script["and what about the plane ticket"] = predict("travel_arrangements", language="en")
    first = await dialogue.text(USER, "how much money do i get")
    second = await dialogue.text(USER, "and what about the plane ticket")
    assert SWITCH + "en" not in data(first)
    assert SWITCH + "en" in data(second)
    await dialogue.button(USER, SWITCH + "en")
    user = store.get_user(USER)
    assert user is not None and user.language == "en"


async def test_dialogue_unsure_turn_offers_two_guesses_the_menu_and_a_counsellor(
    dialogue: Dialogue, nlu: ScriptedNLU
) -> None:
    await choose(dialogue, "en")
    nlu.script["hmm"] = predict(FALLBACK_INTENT, 0.3, "en", "costs", "greet", "timeline", "eligibility")
    [reply] = await dialogue.text(USER, "hmm")
    assert data([reply]) == [
        TOPIC + "costs",
        TOPIC + "timeline",
        MENU,
        TOPIC + "talk_to_counsellor",
    ]


async def test_dialogue_second_unsure_turn_offers_the_counsellor_first(
    dialogue: Dialogue, nlu: ScriptedNLU
) -> None:
    await choose(dialogue, "en")
    nlu.script["hmm"] = predict("costs", 0.2, "en", "timeline")
    await dialogue.text(USER, "hmm")
    [reply] = await dialogue.text(USER, "hmm")
    assert reply.choices[0].data == TOPIC + "talk_to_counsellor"


async def test_dialogue_confident_answer_resets_the_unsure_streak(
    dialogue: Dialogue, nlu: ScriptedNLU
) -> None:
    await choose(dialogue, "en")
    nlu.script["hmm"] = predict("costs", 0.2, "en", "timeline")
    nlu.script["is it free"] = predict("costs")
    await dialogue.text(USER, "hmm")
    await dialogue.text(USER, "is it free")
    [reply] = await dialogue.text(USER, "hmm")
    assert reply.choices[0].data != TOPIC + "talk_to_counsellor"


async def test_dialogue_out_of_scope_gets_the_polite_answer(
    dialogue: Dialogue, nlu: ScriptedNLU, library: ContentLibrary
) -> None:
    await choose(dialogue, "en")
    nlu.script["who won the match"] = predict("out_of_scope")
    [reply] = await dialogue.text(USER, "who won the match")
    assert reply.text == library.answer("out_of_scope", "en").text


async def test_dialogue_nlu_down_gives_the_menu_and_counsellor_then_recovers(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    clock = [0.0]
    understanding = ResilientNLU(nlu, failures_before_down=1, retry_after=5, timer=lambda: clock[0])
    dialogue = Dialogue(library, understanding, store)
    await choose(dialogue, "en")
    nlu.script["is it free"] = predict("costs")
    nlu.down = True
    [reply] = await dialogue.text(USER, "is it free")
    assert TOPIC + "eligibility" in data([reply]) and TOPIC + "talk_to_counsellor" in data([reply])
    calls = nlu.calls
    await dialogue.text(USER, "is it free")
    assert nlu.calls == calls  # not retried while presumed down: the menu comes at once
    nlu.down = False
    clock[0] = 6.0
    [reply] = await dialogue.text(USER, "is it free")
    assert reply.text == library.answer("costs", "en").text


async def test_dialogue_menu_command_lists_every_topic(dialogue: Dialogue) -> None:
    await choose(dialogue, "fa")
    [reply] = await dialogue.command(USER, "menu")
    assert len(reply.choices) == 20
    assert all(button.data.startswith(TOPIC) for button in reply.choices)


async def test_dialogue_topic_button_answers_without_the_nlu(
    dialogue: Dialogue, nlu: ScriptedNLU, library: ContentLibrary
) -> None:
    await choose(dialogue, "fa")
    [reply] = await dialogue.button(USER, TOPIC + "reintegration_support")
    assert reply.text == library.answer("reintegration_support", "fa").text
    assert nlu.calls == 0


@pytest.mark.parametrize(
    "forged", ["t:DROP TABLE users", "l:xx", "s:", "forget:yes", "", "x" * 64, "t:nlu_fallback"]
)
async def test_dialogue_forged_button_data_gets_the_menu_and_changes_nothing(
    dialogue: Dialogue, store: Store, forged: str
) -> None:
    await choose(dialogue, "fr")
    before = store.get_user(USER)
    [reply] = await dialogue.button(USER, forged)
    assert TOPIC + "eligibility" in data([reply])
    after = store.get_user(USER)
    assert after is not None and before is not None and after.language == before.language == "fr"


async def test_dialogue_forget_deletes_after_confirmation(dialogue: Dialogue, store: Store) -> None:
    await choose(dialogue, "en")
    [question] = await dialogue.command(USER, "forget")
    assert data([question]) == [FORGET_YES, FORGET_NO]
    [done] = await dialogue.button(USER, FORGET_YES)
    assert "deleted" in done.text
    assert store.get_user(USER) is None


async def test_dialogue_forget_declined_or_cancelled_keeps_the_data(dialogue: Dialogue, store: Store) -> None:
    await choose(dialogue, "en")
    await dialogue.command(USER, "forget")
    await dialogue.button(USER, FORGET_NO)
    await dialogue.command(USER, "forget")
    [cancelled] = await dialogue.command(USER, "cancel")
    assert "Nothing was deleted" in cancelled.text
    await dialogue.button(USER, FORGET_YES)  # stale confirmation after /cancel
    assert store.get_user(USER) is not None


async def test_dialogue_non_text_says_text_only_in_the_users_language(dialogue: Dialogue) -> None:
    await choose(dialogue, "fr")
    [reply] = await dialogue.non_text(USER)
    assert "écrits" in reply.text  # the French translation, not the English msgid
    assert TOPIC + "talk_to_counsellor" in data([reply])


async def test_dialogue_inbound_limit_replies_once_then_stays_silent(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    dialogue = Dialogue(library, nlu, store, policy=Policy(messages_per_minute=3))
    nlu.script["hi"] = predict("greet")
    for _ in range(3):
        assert await dialogue.text(USER, "hi")
    [polite] = await dialogue.text(USER, "hi")
    assert "wait" in polite.text
    assert await dialogue.text(USER, "hi") == []


async def test_dialogue_counsellor_goes_through_the_desk(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    class BookingDesk(InformationDesk):
        async def offer(self, user: User, language: str) -> list[Reply] | None:
            return [Reply("pick a slot")]

        async def intercept(self, user: User, text: str) -> list[Reply] | None:
            return [Reply("relayed")] if text.startswith("@") else None

        async def button(self, user: User, data: str, language: str) -> list[Reply] | None:
            return [Reply(f"slot {data[5:]} in {language}")] if data.startswith("slot:") else None

        async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
            return [Reply("booking cancelled")] if name == "cancel" else None

    dialogue = Dialogue(library, nlu, store, desk=BookingDesk())
    await choose(dialogue, "en")
    assert [r.text for r in await dialogue.button(USER, TOPIC + "talk_to_counsellor")] == ["pick a slot"]
    assert [r.text for r in await dialogue.text(USER, "@counsellor hello")] == ["relayed"]
    assert [r.text for r in await dialogue.button(USER, "slot:7")] == ["slot 7 in en"]
    assert [r.text for r in await dialogue.command(USER, "cancel")] == ["booking cancelled"]
    assert TOPIC + "eligibility" in data(await dialogue.command(USER, "menu"))  # not the desk's
    assert "no longer valid" in (await dialogue.button(USER, "other:1"))[0].text
    assert nlu.calls == 0


async def test_dialogue_cancel_of_the_dialogues_own_question_comes_before_the_desk(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    class CancellingDesk(InformationDesk):
        async def command(self, user: User, name: str, language: str) -> list[Reply] | None:
            return [Reply("booking cancelled")]

    dialogue = Dialogue(library, nlu, store, desk=CancellingDesk())
    await choose(dialogue, "en")
    await dialogue.command(USER, "forget")
    [cancelled] = await dialogue.command(USER, "cancel")
    assert cancelled.text == "Cancelled. Nothing was deleted."


# -- the privacy notice: once, at the first contact of any kind ---------------------------------


def privacy_notices(replies: list[Reply]) -> int:
    return sum(reply.key == "privacy" for reply in replies)


@pytest.mark.parametrize("first", ["text", "tap", "command", "voice", "deep_link"])
async def test_dialogue_privacy_notice_comes_at_the_first_contact_of_any_kind(
    dialogue: Dialogue, nlu: ScriptedNLU, store: Store, first: str
) -> None:
    nlu.script["is it free"] = predict("costs", language="fr")

    async def contact() -> list[Reply]:
        if first == "text":
            return await dialogue.text(USER, "is it free", language_code="fr")
        if first == "tap":
            return await dialogue.button(USER, TOPIC + "timeline", language_code="fr")
        if first == "command":
            return await dialogue.command(USER, "help", language_code="fr")
        if first == "voice":
            return await dialogue.non_text(USER, language_code="fr")
        return await dialogue.start(USER, language_code="en", payload="fr")

    replies = await contact()
    assert privacy_notices(replies) == 1
    [notice] = [reply for reply in replies if reply.key == "privacy"]
    assert "/forget" in notice.text and "Your privacy" not in notice.text  # in French
    user = store.get_user(USER)
    assert user is not None and user.privacy_shown
    assert privacy_notices(await contact()) == 0


async def test_dialogue_privacy_notice_is_shown_exactly_once_over_a_conversation(
    dialogue: Dialogue, nlu: ScriptedNLU
) -> None:
    nlu.script["is it free"] = predict("costs")
    replies = [
        *await dialogue.start(USER, language_code="nl"),
        *await dialogue.non_text(USER, language_code="nl"),
        *await dialogue.start(USER, language_code="nl"),
        *await dialogue.button(USER, LANGUAGE + "en"),
        *await dialogue.text(USER, "is it free"),
        *await dialogue.command(USER, "menu"),
        *await dialogue.button(USER, MENU),
    ]
    assert privacy_notices(replies) == 1


async def test_dialogue_start_keeps_nothing_before_a_language_is_chosen(
    dialogue: Dialogue, store: Store
) -> None:
    """A bare /start only asks for the language; the notice comes with whatever is kept first."""
    [keyboard] = await dialogue.start(USER, language_code="fa-IR")
    assert keyboard.key == "language_keyboard"
    assert store.get_user(USER) is None
    replies = await dialogue.button(USER, LANGUAGE + "fa")
    assert [reply.key for reply in replies] == ["language_chosen", "privacy", "menu"]


# -- the inbound limit ----------------------------------------------------------------------------


async def test_dialogue_start_counts_against_the_inbound_limit(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    now = [0.0]
    dialogue = Dialogue(library, nlu, store, policy=Policy(messages_per_minute=2), timer=lambda: now[0])
    assert await dialogue.start(USER)
    assert await dialogue.start(USER)
    [polite] = await dialogue.start(USER)
    assert polite.key == "slow_down"
    assert await dialogue.command(USER, "menu") == []
    now[0] = 61.0
    assert await dialogue.start(USER)


async def test_dialogue_limit_warning_is_in_the_users_language(
    library: ContentLibrary, store: Store, nlu: ScriptedNLU
) -> None:
    dialogue = Dialogue(library, nlu, store, policy=Policy(messages_per_minute=1))
    await choose(dialogue, "fr")
    [polite] = await dialogue.non_text(USER, language_code="en")
    assert polite.key == "slow_down"
    assert polite.text == library.translator("fr").gettext(
        "You are sending many messages. Please wait a minute, then write again."
    )
    assert polite.text != "You are sending many messages. Please wait a minute, then write again."


# -- one event, one unit of work ----------------------------------------------------------------


class Statements:
    """Counts the statements the store runs, through SQLite's own trace callback."""

    def __init__(self, store: Store) -> None:
        self.sql: list[str] = []
        store.db.conn.set_trace_callback(self.sql.append)

    def clear(self) -> None:
        self.sql.clear()

    def count(self, *verbs: str) -> int:
        return sum(statement.lstrip().upper().startswith(verbs) for statement in self.sql)

    @property
    def reads(self) -> int:
        return self.count("SELECT")

    @property
    def writes(self) -> int:
        return self.count("INSERT", "UPDATE", "DELETE", "REPLACE")

    @property
    def transactions(self) -> int:
        return self.count("BEGIN")


EVENTS = {
    "start": lambda d: d.start(USER),
    "text answered": lambda d: d.text(USER, "is it free"),
    "text unsure": lambda d: d.text(USER, "hmm"),
    "text in another language": lambda d: d.text(USER, "combien d argent pour le retour"),
    "tap topic": lambda d: d.button(USER, TOPIC + "costs"),
    "tap menu": lambda d: d.button(USER, MENU),
    "tap language": lambda d: d.button(USER, LANGUAGE + "nl"),
    "tap stale": lambda d: d.button(USER, "t:gone"),
    "command menu": lambda d: d.command(USER, "menu"),
    "command forget": lambda d: d.command(USER, "forget"),
    "command cancel": lambda d: d.command(USER, "cancel"),
    "voice": lambda d: d.non_text(USER),
}


@pytest.mark.parametrize("event", list(EVENTS))
async def test_dialogue_event_reads_the_user_once_and_writes_once_in_one_transaction(
    dialogue: Dialogue, nlu: ScriptedNLU, store: Store, event: str
) -> None:
    nlu.script["is it free"] = predict("costs")
    nlu.script["hmm"] = predict(FALLBACK_INTENT, 0.2, "en", "costs")
    nlu.script["combien d argent pour le retour"] = predict("cash_support", language="fr")
    await choose(dialogue, "en")
    statements = Statements(store)
    await EVENTS[event](dialogue)
    assert (statements.reads, statements.writes, statements.transactions) == (1, 1, 1), statements.sql


@pytest.mark.parametrize("event", ["text", "tap", "voice"])
async def test_dialogue_first_contact_reads_once_and_writes_once(
    dialogue: Dialogue, nlu: ScriptedNLU, store: Store, event: str
) -> None:
    """The busiest event of all: a new user's first message, with language and privacy notice."""
    nlu.script["salam mikham bargardam"] = predict("package_overview", language="fa")
    statements = Statements(store)
    if event == "text":
        await dialogue.text(USER, "salam mikham bargardam")
    elif event == "tap":
        await dialogue.button(USER, TOPIC + "costs")
    else:
        await dialogue.non_text(USER)
    assert (statements.reads, statements.writes, statements.transactions) == (1, 1, 1), statements.sql


async def test_dialogue_forget_deletes_in_one_transaction(dialogue: Dialogue, store: Store) -> None:
    await choose(dialogue, "en")
    await dialogue.command(USER, "forget")
    statements = Statements(store)
    await dialogue.button(USER, FORGET_YES)
    assert (statements.reads, statements.count("DELETE"), statements.transactions) == (1, 1, 1)
    assert statements.count("INSERT", "UPDATE") == 0  # nothing written back after the delete


async def test_dialogue_forget_that_fails_half_way_keeps_the_user(dialogue: Dialogue, store: Store) -> None:
    def broken_domain(db: Database, user_id: str, reason: ForgetReason) -> None:
        raise RuntimeError("the bookings table is locked")

    store.on_forget(broken_domain)
    await choose(dialogue, "fa")
    await dialogue.command(USER, "forget")
    with pytest.raises(RuntimeError):
        await dialogue.button(USER, FORGET_YES)  # the front-end's error handler apologises
    user = store.get_user(USER)
    assert user is not None and user.language == "fa"


class GatedNLU(ScriptedNLU):
    """Holds each parse until `release` is set, so that another event can run meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def parse(self, text: str) -> Prediction:
        self.waiting.set()
        await self.release.wait()
        return await super().parse(text)


async def test_dialogue_event_saved_meanwhile_is_not_lost(library: ContentLibrary, store: Store) -> None:
    """A message waits on the NLU while another event for the same user is saved (as a staff
    reply handled in another chat's context will be): the later save keeps both changes."""
    nlu = GatedNLU()
    nlu.script["hmm"] = predict(FALLBACK_INTENT, 0.2, "en", "costs")
    dialogue = Dialogue(library, nlu, store)
    await choose(dialogue, "en")
    nlu.release.set()
    await dialogue.text(USER, "hmm")  # unsure once
    nlu.release.clear()
    nlu.waiting.clear()
    message = asyncio.create_task(dialogue.text(USER, "hmm"))  # unsure twice: read, then waits
    await nlu.waiting.wait()
    await dialogue.button(USER, SWITCH + "fr")  # saved while the message waits
    nlu.release.set()
    [unsure] = await message
    assert unsure.choices[0].data == TOPIC + "talk_to_counsellor"  # the second unsure turn
    user = store.get_user(USER)
    assert user is not None
    assert user.language == "fr" and user.language_chosen  # the tap's change survives
    assert user.unsure_streak == 2  # and so does the message's


def test_dialogue_threshold_is_the_models_fallback_threshold() -> None:
    """The dialogue calls "unsure" exactly what the model would turn into nlu_fallback."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    [fallback] = [c for c in config["pipeline"] if c["name"] == "FallbackClassifier"]
    assert Policy().confidence_threshold == fallback["threshold"]


# -- topics asked, for the staff's ticket card ---------------------------------------------------


class OfferRecordingDesk(InformationDesk):
    """Remembers the user as the desk saw them when a counsellor was asked for."""

    def __init__(self) -> None:
        self.offered_to: list[User] = []

    async def offer(self, user: User, language: str) -> list[Reply] | None:
        self.offered_to.append(user)
        return None


async def test_dialogue_remembers_topics_answered_by_name_not_small_talk_fallback_or_counsellor(
    library: ContentLibrary, nlu: ScriptedNLU, store: Store
) -> None:
    desk = OfferRecordingDesk()
    dialogue = Dialogue(library, nlu, store, desk=desk, policy=Policy(messages_per_minute=1000))
    nlu.script["how much does it cost"] = predict("costs")
    nlu.script["hello"] = predict("greet")
    nlu.script["hmm"] = predict(FALLBACK_INTENT, 0.2, "en", "timeline")
    nlu.script["can I speak to someone"] = predict("talk_to_counsellor")
    await choose(dialogue, "en")
    await dialogue.button(USER, TOPIC + "how_to_apply")  # a topic button
    await dialogue.text(USER, "how much does it cost")  # understood from free text
    await dialogue.text(USER, "hello")
    await dialogue.text(USER, "hmm")
    await dialogue.text(USER, "can I speak to someone")
    user = store.get_user(USER)
    assert user is not None and user.asked_topics == ("how_to_apply", "costs")
    assert [u.asked_topics for u in desk.offered_to] == [("how_to_apply", "costs")]  # what the desk passes on
    raw = store.db.execute("SELECT * FROM users").fetchall()
    assert not any("how much" in str(value) for row in raw for value in row)  # names, never the message


async def test_dialogue_forgets_topics_after_a_long_silence(dialogue: Dialogue, store: Store) -> None:
    clock = store.clock
    assert isinstance(clock, FixedClock)
    await choose(dialogue, "en")
    await dialogue.button(USER, TOPIC + "costs")
    clock.advance(timedelta(minutes=30))
    await dialogue.button(USER, TOPIC + "timeline")
    user = store.get_user(USER)
    assert user is not None and user.asked_topics == ("costs", "timeline")
    clock.advance(timedelta(hours=2))
    await dialogue.command(USER, "menu")  # a new conversation: the old topics are gone
    user = store.get_user(USER)
    assert user is not None and user.asked_topics == ()
    await dialogue.button(USER, TOPIC + "eligibility")
    user = store.get_user(USER)
    assert user is not None and user.asked_topics == ("eligibility",)
