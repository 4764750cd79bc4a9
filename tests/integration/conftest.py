"""Real servers on loopback for integration tests: one with the real Vosk model, one with text turns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ivr.config import Settings
from ivr.rules.loader import load_rules
from ivr.rules.schema import DEFAULT_TARGET
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.twilio import TwilioSimulator

#: the line runs at twice real time in tests: same protocol and pacing logic, half the wall-clock time
SPEED = 2.0
#: Twilio's side of a transfer (hold, colleagues' phones) keeps its own clock: faster still
TRANSFER_SPEED = 8.0


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    recognizers: ScriptedRecognizers | None = None

    def simulator(self, speed: float = SPEED) -> TwilioSimulator:
        return TwilioSimulator(
            self.base_url,
            self.settings.auth_token,
            speed=speed,
            timeout_s=90,
            api_url=self.settings.twilio_api_url,
            transfer_speed=TRANSFER_SPEED,
        )

    def people_number(self) -> str:
        """Where people answer: the number of the rules file's ``default`` target (the one place that says so)."""
        target = load_rules(self.settings.rules_file).targets[DEFAULT_TARGET]
        assert target.type == "phone"
        return target.number

    def health(self) -> dict[str, object]:
        response = httpx.get(f"{self.base_url}/healthz", timeout=5)
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data


def _settings(tmp: Path, **values: object) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        audio_cache_dir=tmp / "cache",
        playback_speed=SPEED,
        no_input_timeout_s=4.0,
        endpoint_silence_ms=600,
        warm_recognizers=1,  # the default warms the whole pool: a minute of CPU the tests do not need
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def vosk_server(ko_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Warmline with the real Korean Vosk model, answering in Dutch."""
    tmp = tmp_path_factory.mktemp("vosk-server")
    with local_server(_settings(tmp, vosk_model=ko_model_path, language="nl")) as (url, settings):
        yield LiveServer(url, settings)


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Warmline whose recogniser returns scripted sentences (the dialog's understanding is tested on text)."""
    tmp = tmp_path_factory.mktemp("text-server")
    recognizers = ScriptedRecognizers()
    with local_server(_settings(tmp, language="nl"), recognizers=recognizers) as (url, settings):
        yield LiveServer(url, settings, recognizers)
