"""`bot classify`: one utterance per line in, one JSON parse per line out."""

from __future__ import annotations

import json
import sys
from typing import BinaryIO, TextIO

from bot.nlu.client import NLUClient, NLUUnavailable, Prediction
from bot.nlu.service import nlu_service
from bot.settings import Settings


def prediction_line(text: str, prediction: Prediction, default_language: str) -> str:
    """Render one prediction as the JSON line of the `bot classify` contract."""
    return json.dumps(
        {
            "text": text,
            "intent": prediction.intent,
            "confidence": round(prediction.confidence, 4),
            "language": prediction.language or default_language,
            "ranking": [
                {"intent": score.intent, "confidence": round(score.confidence, 4)}
                for score in prediction.ranking[:3]
            ],
        },
        ensure_ascii=False,
    )


async def classify(settings: Settings, lines: BinaryIO, out: TextIO) -> int:
    """Classify every line of `lines`; start a local server when none answers."""
    async with (
        nlu_service(settings) as url,
        NLUClient(url, timeout=max(settings.nlu_timeout, 10.0)) as client,
    ):
        for raw in lines:
            # Undecodable bytes become U+FFFD: the line is still answered.
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            try:
                prediction = await client.parse(text)
            except NLUUnavailable as error:
                print(f"bot classify: {error}", file=sys.stderr)
                return 1
            out.write(prediction_line(text, prediction, settings.default_language) + "\n")
            out.flush()
    return 0
