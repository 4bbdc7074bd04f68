"""The dialogue core, without Telegram: real catalogs and store, a scripted understanding.

The NLU model itself is exercised in the integration and end-to-end tests; here a script
of predictions makes each conversational rule testable on its own.
"""

from __future__ import annotations

import pytest
import yaml

from bot.content.library import ContentLibrary
from bot.dialogue.core import Dialogue, Policy
from bot.dialogue.replies import FORGET_NO, FORGET_YES, LANGUAGE, MENU, SWITCH, TOPIC, Reply
from bot.nlu.client import IntentScore, NLUUnavailable, Prediction
from bot.nlu.intents import FALLBACK_INTENT
from bot.nlu.resilient import ResilientNLU
from bot.settings import PROJECT_ROOT
from bot.store.db import Store

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
    dialogue = Dialogue(library, ResilientNLU(nlu, retry_after=5, clock=lambda: clock[0]), store)
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
    class BookingDesk:
        async def offer(self, user: object, language: str) -> list[Reply] | None:
            return [Reply("pick a slot")]

        async def intercept(self, user: object, text: str) -> list[Reply] | None:
            return [Reply("relayed")] if text.startswith("@") else None

    dialogue = Dialogue(library, nlu, store, desk=BookingDesk())
    await choose(dialogue, "en")
    assert [r.text for r in await dialogue.button(USER, TOPIC + "talk_to_counsellor")] == ["pick a slot"]
    assert [r.text for r in await dialogue.text(USER, "@counsellor hello")] == ["relayed"]
    assert nlu.calls == 0


def test_dialogue_threshold_is_the_models_fallback_threshold() -> None:
    """The dialogue calls "unsure" exactly what the model would turn into nlu_fallback."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    [fallback] = [c for c in config["pipeline"] if c["name"] == "FallbackClassifier"]
    assert Policy().confidence_threshold == fallback["threshold"]
