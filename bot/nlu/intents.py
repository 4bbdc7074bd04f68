"""The intent and language contract shared by the NLU model, the content and the front-end."""

# Kept importable on Python 3.10: the Rasa environment imports this package too.

LANGUAGES: tuple[str, ...] = ("fa", "fr", "nl", "en")
"""Languages the model is trained for and answers are written in; Finglish counts as fa."""

FALLBACK_INTENT = "nlu_fallback"

INTENTS: dict[str, str] = {
    "greet": "hello, good morning, salam",
    "thanks": "thank you, merci, dank je, mersi, mamnoon",
    "goodbye": "bye, see you, khodahafez",
    "bot_challenge": "am I talking to a robot or a real person?",
    "change_language": "do you speak Farsi? / in French please / switch language",
    "eligibility": (
        "who can use the programme: asylum pending or refused, undocumented, EU citizens, used it before"
    ),
    "package_overview": "what do I get if I go back, what does the programme offer in general",
    "travel_arrangements": (
        "plane ticket, luggage, getting to the airport, help at the airport and on arrival"
    ),
    "cash_support": "money given at departure (the departure premium / pocket money)",
    "reintegration_support": (
        "help after return: business, housing, training, school, medical costs; in kind or cash; how much"
    ),
    "how_to_apply": (
        "where and how: return desks, free phone line, online, offices in cities, opening hours"
    ),
    "travel_documents": (
        "no passport, passport held by the Immigration Office, consulate papers and their cost"
    ),
    "costs": "do I pay anything for the return",
    "timeline": "how long until departure, leaving urgently",
    "family_children": "returning with a partner, wife, husband, children, family",
    "unaccompanied_minor": "a minor under 18 without parents who wants to go back",
    "medical_vulnerable": "illness, medication, pregnancy, disability, trafficking victims",
    "detention_order_to_leave": ("closed centre (detention), order to leave the territory and its deadline"),
    "forced_vs_voluntary": "difference between voluntary return and deportation",
    "reentry_consequences": "coming back to Belgium/Europe later, entry ban, visa",
    "confidentiality": "will my government know, is my data safe, privacy",
    "asylum_procedure_effect": "what happens to my asylum or stay procedure if I apply",
    "change_mind": "can I cancel or change my mind after signing",
    "destination_country": ("situation and support in Iran, Afghanistan or another country of return"),
    "talk_to_counsellor": "I want a human, an appointment, a call back",
    "out_of_scope": ("residence or work permits, lawyers, appeals, anything unrelated to voluntary return"),
}
