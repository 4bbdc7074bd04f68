"""Topics the assistant offers: menu order, button labels and related topics, in one place.

Labels are interface strings (the `messages` domain, translated by editors); which topics
follow which is the same in every language, so it lives here and not in the catalogs.
"""

from __future__ import annotations

from bot.nlu.intents import INTENTS


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction; it is translated where it is shown."""
    return msgid


COUNSELLOR = "talk_to_counsellor"

# The topic menu, in the order a person usually wonders about them.
MENU: tuple[str, ...] = (
    "eligibility",
    "package_overview",
    "how_to_apply",
    "costs",
    "travel_documents",
    "travel_arrangements",
    "cash_support",
    "reintegration_support",
    "timeline",
    "family_children",
    "unaccompanied_minor",
    "medical_vulnerable",
    "detention_order_to_leave",
    "asylum_procedure_effect",
    "forced_vs_voluntary",
    "reentry_consequences",
    "change_mind",
    "confidentiality",
    "destination_country",
    COUNSELLOR,
)

# Button labels: at most 20 characters in every language (two buttons to a row on a phone;
# tests/test_labels.py checks every catalog).
LABELS: dict[str, str] = {
    "greet": N_("Hello"),
    "thanks": N_("Thanks"),
    "goodbye": N_("Goodbye"),
    "bot_challenge": N_("Who am I talking to?"),
    "change_language": N_("Language"),
    "eligibility": N_("Who can apply?"),
    "package_overview": N_("What help is there?"),
    "travel_arrangements": N_("The journey"),
    "cash_support": N_("Money at departure"),
    "reintegration_support": N_("Help after return"),
    "how_to_apply": N_("How to apply"),
    "travel_documents": N_("Passport and papers"),
    "costs": N_("Do I pay anything?"),
    "timeline": N_("How long?"),
    "family_children": N_("Family and children"),
    "unaccompanied_minor": N_("Under 18 and alone"),
    "medical_vulnerable": N_("Health, extra needs"),
    "detention_order_to_leave": N_("Order to leave"),
    "forced_vs_voluntary": N_("Voluntary or forced"),
    "reentry_consequences": N_("Back to Europe later"),
    "confidentiality": N_("Confidentiality"),
    "asylum_procedure_effect": N_("My asylum/stay case"),
    "change_mind": N_("Change my mind?"),
    "destination_country": N_("Country of return"),
    COUNSELLOR: N_("Talk to a counsellor"),
    "out_of_scope": N_("Other questions"),
}

# Two or three topics to offer as buttons after each answer (the counsellor is always added).
RELATED: dict[str, tuple[str, ...]] = {
    "greet": ("eligibility", "package_overview", "how_to_apply"),
    "thanks": ("how_to_apply", "change_mind"),
    "goodbye": ("how_to_apply",),
    "bot_challenge": ("how_to_apply", "confidentiality"),
    "change_language": ("eligibility", "package_overview"),
    "eligibility": ("how_to_apply", "package_overview", "asylum_procedure_effect"),
    "package_overview": ("cash_support", "reintegration_support", "travel_arrangements"),
    "travel_arrangements": ("travel_documents", "timeline", "costs"),
    "cash_support": ("reintegration_support", "costs", "family_children"),
    "reintegration_support": ("destination_country", "cash_support", "medical_vulnerable"),
    "how_to_apply": ("eligibility", "timeline", "change_mind"),
    "travel_documents": ("costs", "timeline", "travel_arrangements"),
    "costs": ("travel_documents", "cash_support", "package_overview"),
    "timeline": ("how_to_apply", "travel_documents", "change_mind"),
    "family_children": ("cash_support", "reintegration_support", "medical_vulnerable"),
    "unaccompanied_minor": ("confidentiality", "change_mind"),
    "medical_vulnerable": ("reintegration_support", "family_children"),
    "detention_order_to_leave": ("forced_vs_voluntary", "reentry_consequences", "timeline"),
    "forced_vs_voluntary": ("reentry_consequences", "detention_order_to_leave"),
    "reentry_consequences": ("forced_vs_voluntary", "eligibility"),
    "confidentiality": ("destination_country", "asylum_procedure_effect"),
    "asylum_procedure_effect": ("change_mind", "eligibility", "forced_vs_voluntary"),
    "change_mind": ("asylum_procedure_effect", "how_to_apply"),
    "destination_country": ("reintegration_support", "confidentiality"),
    COUNSELLOR: ("how_to_apply", "eligibility"),
    "out_of_scope": ("eligibility", "package_overview", "how_to_apply"),
}


def related_topics(intent: str) -> tuple[str, ...]:
    """Return the topics to offer after answering `intent`."""
    return RELATED.get(intent, MENU[:3])


def is_topic(intent: str) -> bool:
    """Return whether `intent` is one the assistant has a label for (button data is checked)."""
    return intent in LABELS and intent in INTENTS
