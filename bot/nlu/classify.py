"""`bot classify`: one utterance per line in, one JSON parse per line out."""

from __future__ import annotations

import json
import sys
from typing import BinaryIO, TextIO

from bot.nlu.client import NLUClient, NLUUnavailable, Prediction
from bot.nlu.server import latest_model, running_server
from bot.settings import Settings

DEFAULT_LOCAL_URL = "http://127.0.0.1:5005"


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


async def _classify_lines(client: NLUClient, lines: BinaryIO, out: TextIO, default: str) -> None:
    for raw in lines:
        # Undecodable bytes become U+FFFD; the line is still answered.
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        prediction = await client.parse(text)
        out.write(prediction_line(text, prediction, default) + "\n")
        out.flush()


async def classify(settings: Settings, lines: BinaryIO, out: TextIO) -> int:
    """Classify every line of `lines`; start a local server when none answers."""
    url = settings.rasa_url or DEFAULT_LOCAL_URL
    async with NLUClient(url, timeout=settings.nlu_timeout) as client:
        if await client.is_ready():
            await _classify_lines(client, lines, out, settings.default_language)
            return 0
    model = latest_model(settings.models_dir)
    print(f"No NLU server at {url}; starting one from {model.name} …", file=sys.stderr)
    async with (
        running_server(model, settings.rasa_venv) as server,
        NLUClient(server.url, timeout=max(settings.nlu_timeout, 10.0)) as client,
    ):
        try:
            await _classify_lines(client, lines, out, settings.default_language)
        except NLUUnavailable as error:
            print(f"bot classify: {error}", file=sys.stderr)
            return 1
    return 0
