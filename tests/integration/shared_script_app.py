"""The app with text-turn recognition whose scripts live in Redis: a call's script follows it to whichever instance
carries its stream (after a resume too). For the multi-instance tests, which test shared call state, not speech:
Dutch dialog cannot run through the only real model here (Korean), and every other part runs for real.

Run as ``python -m uvicorn tests.integration.shared_script_app:create_app --factory`` with IVR_REDIS_URL set.
"""

from __future__ import annotations

from collections import deque

import redis
from fastapi import FastAPI

from ivr.api import create_app as create_warmline
from ivr.config import Settings
from ivr.simulator.scripted import ScriptedRecognizer
from ivr.speech.types import RecognizerFactory

SCRIPT_PREFIX = "test-script:"


class SharedScriptRecognizer(ScriptedRecognizer):
    def __init__(self, client: redis.Redis, call_sid: str) -> None:
        super().__init__(deque())
        self._client = client
        self._key = f"{SCRIPT_PREFIX}{call_sid}"

    def _next_text(self) -> str:
        text = self._client.lpop(self._key)
        return str(text) if text else ""


class SharedScripts(RecognizerFactory):
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, decode_responses=True)

    def new_recognizer(self, call_sid: str) -> SharedScriptRecognizer:
        return SharedScriptRecognizer(self._client, call_sid)


def script(client: redis.Redis, call_sid: str, texts: list[str]) -> None:
    """What the caller of ``call_sid`` will be heard to say, utterance by utterance."""
    if texts:
        client.rpush(f"{SCRIPT_PREFIX}{call_sid}", *texts)


def create_app() -> FastAPI:
    settings = Settings()
    assert settings.redis_url, "IVR_REDIS_URL must be set"
    return create_warmline(settings, recognizers=SharedScripts(settings.redis_url))
