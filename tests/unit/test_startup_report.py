"""The ready message: what runs where, and a warning for every placeholder secret a deployment must replace."""

from __future__ import annotations

from pydantic import SecretStr

from ivr.call.record import CallEvent, event_line
from ivr.config import Settings
from ivr.startup_report import startup_summary, startup_warnings


def test_the_summary_names_model_database_rules_and_urls() -> None:
    settings = Settings(public_url="https://ivr.example.com", database_url="postgresql://warm:geheim@db/warmline")
    lines = startup_summary(
        settings, model="vosk-model-small-nl-0.22", model_seconds=1.84, rules_version=3, rules_count=9
    )
    text = "\n".join(lines)
    assert lines[0].startswith("Warmline ") and lines[0].endswith(" ready")
    assert "vosk-model-small-nl-0.22, loaded in 1.8 s" in text
    assert "postgresql://warm:***@db/warmline" in text and "geheim" not in text
    assert "version 3 (9 rules)" in text
    assert "https://ivr.example.com/twilio/voice" in text and "https://ivr.example.com/admin/" in text


def test_a_public_deployment_with_placeholder_secrets_is_warned_about_each() -> None:
    warnings = startup_warnings(Settings(public_url="http://ivr.example.com"))
    assert any("IVR_TWILIO_AUTH_TOKEN is the local development token" in w for w in warnings)
    assert any("is not https" in w for w in warnings)
    assert any("IVR_ADMIN_TOKEN" in w for w in warnings)
    assert any("IVR_SESSION_SECRET" in w for w in warnings)


def test_a_configured_deployment_gets_no_warning() -> None:
    settings = Settings(
        public_url="https://ivr.example.com",
        twilio_auth_token=SecretStr("a-real-token"),
        admin_token=SecretStr("ops"),
        session_secret=SecretStr("shared"),
    )
    assert startup_warnings(settings) == []


def test_call_events_are_logged_one_line_each_without_what_the_caller_said() -> None:
    spoke = CallEvent(at=1.0, kind="caller", text="mijn BSN is 111222333", intent="fraud", confidence=0.8, distress=0.7)
    assert event_line(spoke) == "caller spoke (intent fraud, confidence 0.80, distress 0.70)"
    assert event_line(CallEvent(at=2.0, kind="dtmf", text="4")) == "caller pressed a key"
    assert event_line(CallEvent(at=0.1, kind="prompt", key="greeting", text="Goedemiddag")) == "said greeting"
    assert "\n" not in event_line(CallEvent(at=3.0, kind="no_input", detail="caller stayed silent"))
