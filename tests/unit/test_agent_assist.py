"""Agent assist on text: what the colleague is shown while they talk with the caller — the order's status, the
self-service answer for a topic the caller brings up, the caller's earlier calls, each with why — and how the
caller's mood is read; the fork in the transfer TwiML and its signature."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.callers import PreviousCall
from ivr.config import REPO_ROOT
from ivr.dialog.flow import load_flow
from ivr.dialog.service import JsonServiceData
from ivr.errors import GrammarError
from ivr.rules.schema import PhoneTarget
from ivr.transfer.assist import (
    AssistSources,
    CallFacts,
    HeardLine,
    load_assist_texts,
    mood,
    shipped_assist_texts,
    suggest,
)
from ivr.transfer.links import sign_fork, sign_link, verify_fork, verify_link
from ivr.transfer.twiml import AssistFork, dial_result_twiml, fork_name, transfer_twiml

GRAMMARS = REPO_ROOT / "grammars"
NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def sources() -> AssistSources:
    flow = load_flow(GRAMMARS, "nl")
    services = JsonServiceData(GRAMMARS / "service_data.json")
    return AssistSources(flow, flow, services, shipped_assist_texts("nl"), "Warmline Demo")


@pytest.fixture(scope="module")
def english(sources: AssistSources) -> AssistSources:
    flow = load_flow(GRAMMARS, "en")
    return AssistSources(sources.caller_flow, flow, sources.services, shipped_assist_texts("en"))


def caller(text: str, distress: float | None = None) -> HeardLine:
    return HeardLine("caller", text, NOW, distress)


def test_the_order_the_caller_gave_the_computer_is_shown_with_its_status_and_why(sources: AssistSources) -> None:
    [order] = suggest(CallFacts(order_number="4512"), [], sources)
    assert (order.kind, order.title) == ("order_status", "Bestelling 4512")
    assert order.text == "onderweg, met verwachte bezorging morgen"
    assert order.why == "De beller gaf dit bestelnummer aan de computer."


def test_an_order_number_said_to_the_colleague_is_looked_up_and_an_unknown_one_is_said_to_be_unknown(
    sources: AssistSources,
) -> None:
    lines = [caller("het gaat om bestelling een twee drie vier"), caller("of was het negen negen negen negen")]
    found = {s.title: s for s in suggest(CallFacts(), lines, sources)}
    assert found["Bestelling 1234"].text.startswith("bij uw buren")
    assert found["Bestelling 1234"].why == "De beller noemde dit bestelnummer zojuist."
    assert found["Bestelling 9999"].text == "Dit bestelnummer staat niet in het systeem."


def test_a_self_service_topic_the_caller_brings_up_gets_the_computers_answer_with_their_words_as_why(
    sources: AssistSources,
) -> None:
    [hours] = suggest(CallFacts(), [caller("hoe laat zijn jullie morgen open")], sources)
    assert hours.title == "Openingstijden"
    assert hours.text.startswith("Wij zijn open van maandag tot en met vrijdag")
    assert hours.why == 'De beller zei net: "hoe laat zijn jullie morgen open"'
    [password] = suggest(CallFacts(intent="password_reset"), [], sources)
    assert "wachtwoord vergeten" in password.text and password.why == "Hierover belde de beller."


def test_topics_that_need_a_person_or_unclear_words_suggest_nothing(sources: AssistSources) -> None:
    lines = [caller("mijn vader is overleden"), caller("ehm ja nou"), HeardLine("agent", "wanneer zijn wij open", NOW)]
    assert suggest(CallFacts(intent="complaint"), lines, sources) == []


def test_a_returning_callers_earlier_calls_are_suggested_in_the_briefings_words(sources: AssistSources) -> None:
    earlier = (
        PreviousCall(NOW - 86400, "order_status", "4512", "transfer", "klachten", "unreachable"),
        PreviousCall(NOW - 2 * 86400, "order_status", "4512", "hangup"),
    )
    found = suggest(CallFacts(order_number="4512", previous=earlier, at=NOW), [], sources)
    assert [s.kind for s in found] == ["order_status", "history"]
    history = found[1]
    assert (
        history.text
        == "3e oproep in 7 dagen over bestelling 4 5 1 2; vorige keer doorverbonden met klachten, niet opgelost."
    )
    assert "herkend aan het nummer" in history.why


def test_suggestions_are_in_the_colleagues_language_while_the_caller_is_understood_in_theirs(
    english: AssistSources,
) -> None:
    found = suggest(CallFacts(order_number="4512"), [caller("wanneer gaan jullie open")], english)
    assert [(s.title, s.text[:20]) for s in found] == [
        ("Order 4512", "on its way, and expe"),
        ("Opening hours", "We're open Monday to"),
    ]


def test_the_mood_follows_the_callers_latest_words_and_says_which_way_it_goes(sources: AssistSources) -> None:
    texts = sources.texts
    assert mood([], CallFacts(distress=0.1), texts).to_json()["label"] == "rustig"
    rising = mood(
        [caller("ok", 0.2), HeardLine("agent", "hm", NOW), caller("dit is belachelijk", 0.7)], CallFacts(), texts
    )
    assert (rising.tone, rising.label, rising.trend) == ("upset", "erg van streek", "rising")
    calmer = mood([caller("ik ben boos", 0.5), caller("dank u wel", 0.1)], CallFacts(distress=0.5), texts)
    assert (calmer.tone, calmer.trend) == ("calm", "falling")
    assert mood([caller("nou", 0.4)], CallFacts(distress=0.4), texts).to_json()["trend"] == "steady"


def test_assist_wording_is_validated_with_file_and_reason(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    shipped = (GRAMMARS / "nl" / "assist.yaml").read_text(encoding="utf-8")
    (tmp_path / "nl" / "assist.yaml").write_text(shipped.replace('order: "Bestelling {number}"', "order: Bestelling"))
    with pytest.raises(GrammarError, match=r"assist.yaml: titles.order needs \{number\}"):
        load_assist_texts(tmp_path, "nl")
    (tmp_path / "nl" / "assist.yaml").write_text(shipped.replace("  upset: erg van streek\n", ""))
    with pytest.raises(GrammarError, match=r"assist.yaml: mood.upset: Field required"):
        load_assist_texts(tmp_path, "nl")


# ── the fork in TwiML ─────────────────────────────────────────────────────────────────────────────────────
def test_the_transfer_starts_a_both_tracks_fork_before_the_caller_is_queued_and_the_offer_stops_it() -> None:
    fork = AssistFork("wss://ivr.example.nl/twilio/assist", fork_name("tr1"), {"transfer": "tr1", "sig": "s"})
    twiml = transfer_twiml(
        PhoneTarget(type="phone", number="+31201234567"),
        transfer_id="tr1",
        wait_url="https://ivr.example.nl/twilio/hold",
        dial_action_url="https://ivr.example.nl/twilio/dial-status",
        language="nl",
        fork=fork,
    )
    root = ET.fromstring(twiml)
    assert [child.tag for child in root] == ["Start", "Enqueue"]
    stream = root.find("Start/Stream")
    assert stream is not None and stream.attrib == {
        "name": "assist-tr1",
        "track": "both_tracks",
        "url": "wss://ivr.example.nl/twilio/assist",
    }
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {"transfer": "tr1", "sig": "s"}

    offer = ET.fromstring(
        dial_result_twiml(
            "no-answer", prompt_audio_urls=["u"], record_action_url="r", callback_action_url="c", stop_fork="assist-tr1"
        )
    )
    assert offer[0].tag == "Stop" and offer.find("Stop/Stream").get("name") == "assist-tr1"  # type: ignore[union-attr]
    ended = ET.fromstring(
        dial_result_twiml(
            "completed", prompt_audio_urls=["u"], record_action_url="r", callback_action_url="c", stop_fork="assist-tr1"
        )
    )
    assert [child.tag for child in ended] == ["Hangup"], "a finished call needs no stop: the fork ends with it"


def test_a_fork_signature_is_for_its_transfer_only_and_never_opens_the_agent_page() -> None:
    parameters = sign_fork("tr1", "secret", 60, now=NOW)
    assert verify_fork(parameters, "secret", now=NOW) == "tr1"
    assert verify_fork({**parameters, "transfer": "tr2"}, "secret", now=NOW) is None
    assert verify_fork(parameters, "other secret", now=NOW) is None
    assert verify_fork(parameters, "secret", now=NOW + 61) is None
    assert verify_fork({}, "secret") is None
    assert not verify_link("tr1", parameters["exp"], parameters["sig"], "secret", now=NOW)
    query = sign_link("https://x", "tr1", "secret", 60, now=NOW).split("?", 1)[1]
    link = dict(part.split("=", 1) for part in query.split("&"))
    assert verify_fork({"transfer": "tr1", **link}, "secret", now=NOW) is None
