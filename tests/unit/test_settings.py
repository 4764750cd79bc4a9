"""Settings a person can act on: a bad or retired setting is one line naming the variable, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.config import Settings, settings_error_line
from ivr.rules.schema import PhoneTarget, SipTarget, TaskRouterTarget
from ivr.telephony import twiml

IVR = str(Path(sys.executable).with_name("ivr"))


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return settings_error_line(caught.value)


def test_a_bad_setting_names_its_environment_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _error(monkeypatch, IVR_ENDPOINT_SILENCE_MS="abc")
    assert line.startswith("IVR_ENDPOINT_SILENCE_MS='abc': ") and "integer" in line and "\n" not in line
    assert _error(monkeypatch, IVR_LANGUAGE="de").startswith("IVR_LANGUAGE='de': Input should be 'nl' or 'en'")


def test_a_public_url_that_is_not_a_url_says_what_one_looks_like(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_ENDPOINT_SILENCE_MS", raising=False)
    assert "https://ivr.example.com" in _error(monkeypatch, IVR_PUBLIC_URL="ivr.example.com")


def test_shared_live_state_on_sqlite_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    line = _error(monkeypatch, IVR_REDIS_URL="redis://127.0.0.1:6379/0")
    assert "\n" not in line and "IVR_REDIS_URL" in line and "IVR_DATABASE_URL=postgresql" in line
    monkeypatch.setenv("IVR_DATABASE_URL", "postgresql+psycopg://u@db/warmline")
    assert "redis://" in _error(monkeypatch, IVR_REDIS_URL="http://cache:6379")
    monkeypatch.setenv("IVR_REDIS_URL", "redis://cache:6379/0")
    assert Settings().redis_url == "redis://cache:6379/0"


def test_the_retired_transfer_number_is_refused_with_where_people_answer_now(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _error(monkeypatch, IVR_TRANSFER_NUMBER="+31201234567")
    assert "IVR_TRANSFER_NUMBER is no longer read" in line and "`default` target" in line


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (PhoneTarget(type="phone", number="+31301112222"), "<Dial>+31301112222</Dial>"),
        (SipTarget(type="sip", uri="sip:desk@pbx.example"), "<Sip>sip:desk@pbx.example</Sip>"),
        (TaskRouterTarget(type="taskrouter", workflow_sid="WW" + "1" * 32), 'workflowSid="WW111'),
    ],
)
def test_a_stream_that_ended_without_a_decision_goes_to_the_rules_default_target(
    target: PhoneTarget | SipTarget | TaskRouterTarget, expected: str
) -> None:
    assert expected in twiml.after_stream(None, target)


def test_the_command_line_prints_one_line_for_a_bad_setting_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "IVR_ENDPOINT_SILENCE_MS": "abc", "IVR_DATA_DIR": str(tmp_path)}
    done = subprocess.run([IVR, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: IVR_ENDPOINT_SILENCE_MS='abc'")
    assert "--debug" in lines[0]


def test_the_command_line_names_the_missing_model_and_how_to_get_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "IVR_VOSK_MODEL"} | {"IVR_DATA_DIR": str(tmp_path)}
    done = subprocess.run([IVR, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "ivr models download nl" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_simulate_against_a_stopped_server_says_how_to_start_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [IVR, "simulate", "--url", "http://127.0.0.1:9", "--press", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no Warmline answers at http://127.0.0.1:9 (All connection attempts failed): start it with "
        "`ivr serve`, or check --url"
    ]


def test_simulate_with_a_missing_audio_file_names_the_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [IVR, "simulate", "--audio", str(tmp_path / "nope.wav")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip() == f"error: --audio {tmp_path / 'nope.wav'}: no such file (a WAV recording of the caller)"
    )
