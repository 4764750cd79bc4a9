"""Whatever a correctly signed webhook carries, the answer is TwiML or a 4xx — never a server error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.api import create_app
from ivr.config import Settings
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.telephony.security import SignatureChecker

BASE = "http://testserver"
PATHS = [
    "/twilio/voice",
    "/twilio/status",
    "/twilio/after-stream",
    "/twilio/dial-status?transfer=T1",
    "/twilio/callback?transfer=T1",
    "/twilio/voicemail?transfer=T1",
    "/twilio/agent?transfer=T1&attempt=0",
    "/twilio/agent-key?transfer=T1&attempt=0",
    "/twilio/agent-status?transfer=T1&attempt=0",
    "/twilio/hold?transfer=T1",
]
FIELDS = [
    "CallSid",
    "From",
    "To",
    "CallStatus",
    "Digits",
    "DialCallStatus",
    "QueueResult",
    "RecordingUrl",
    "AccountSid",
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(data_dir=tmp / "data", audio_cache_dir=tmp / "cache", public_url=BASE),
        recognizers=ScriptedRecognizers(),
    )
    with TestClient(app, base_url=BASE) as running:
        yield running


forms = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)),
    st.one_of(st.text(max_size=200), st.sampled_from(["completed", "busy", "no-answer", "0", "1", "CA1"])),
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PATHS), forms)
def test_any_signed_webhook_form_gets_twiml_or_a_client_error(
    client: TestClient, path: str, form: dict[str, str]
) -> None:
    url = f"{BASE}{path}"
    signature = SignatureChecker(client.app.state.settings.auth_token).sign(url, form)  # type: ignore[attr-defined]
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code < 500, (path, form, response.text[:300])
    if response.status_code == 200:
        assert response.text.lstrip().startswith("<?xml")
