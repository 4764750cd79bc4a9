"""Warm-transfer TwiML: the colleague hears the whisper first, queued calls carry their briefing, and a caller
nobody answers is offered a call-back or voicemail instead of silence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ivr.rules.schema import PhoneTarget, SipTarget, TaskRouterTarget
from ivr.transfer.twiml import (
    callback_confirmed_twiml,
    dial_result_twiml,
    handover_task_attributes,
    hold_twiml,
    task_json,
    transfer_twiml,
    whisper_twiml,
)

WHISPER = "https://ivr.example.nl/twilio/whisper?transfer=tr1&sig=x"
DIAL_ACTION = "https://ivr.example.nl/twilio/dial-result?transfer=tr1"
OFFER = ["https://ivr.example.nl/audio/nl/transfer_unanswered.wav"]
RECORD = "https://ivr.example.nl/twilio/voicemail?transfer=tr1"
CALLBACK = "https://ivr.example.nl/twilio/callback?transfer=tr1"
WORKFLOW = "WW" + "0123456789abcdef" * 2


def _parse(twiml: str) -> ET.Element:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return root


def _verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def _attributes(summary: str = "Beller wil geld terug. Klinkt emotioneel.") -> dict[str, object]:
    return handover_task_attributes(
        transfer_id="tr1",
        language="nl",
        intent="refund",
        summary=summary,
        transcript=["Warmline: Waarmee kan ik u helpen?", "Beller: geld terug op NL91ABNA0417164300"],
        distress=0.7,
        distress_reasons=["grief words"],
        recognition=0.9,
        rule="terugbetaling",
        agent_url="https://ivr.example.nl/agent/transfers/tr1?exp=1&sig=x",
    )


# ── dialling a colleague ──────────────────────────────────────────────────────────────────────────────────
def test_phone_target_is_dialled_with_the_whisper_on_the_colleagues_leg() -> None:
    target = PhoneTarget(type="phone", number="+31201234567")

    root = _parse(
        transfer_twiml(
            target, whisper_url=WHISPER, dial_action_url=DIAL_ACTION, language="nl", caller_id="+31850001111"
        )
    )

    assert _verbs(root) == ["Dial"]
    dial = root[0]
    assert dial.attrib["action"] == DIAL_ACTION
    assert dial.attrib["timeout"] == "20"
    assert dial.attrib["callerId"] == "+31850001111"
    number = dial.find("Number")
    assert number is not None
    assert number.text == "+31201234567"
    assert number.attrib["url"] == WHISPER  # query string survives XML escaping


def test_sip_target_is_dialled_with_the_whisper_and_our_timeout() -> None:
    target = SipTarget(type="sip", uri="sip:rouw@pbx.example.nl")

    root = _parse(transfer_twiml(target, whisper_url=WHISPER, dial_action_url=DIAL_ACTION, language="nl", timeout_s=30))

    dial = root[0]
    assert dial.tag == "Dial"
    assert dial.attrib["timeout"] == "30"
    assert "callerId" not in dial.attrib
    sip = dial.find("Sip")
    assert sip is not None
    assert sip.text == "sip:rouw@pbx.example.nl"
    assert sip.attrib["url"] == WHISPER


def test_taskrouter_target_enqueues_the_call_with_its_briefing_as_task_attributes() -> None:
    target = TaskRouterTarget(type="taskrouter", workflow_sid=WORKFLOW)
    summary = 'Beller wil geld terug & zegt "<dringend>". Klinkt emotioneel.'

    root = _parse(
        transfer_twiml(
            target,
            whisper_url=WHISPER,
            dial_action_url=DIAL_ACTION,
            language="nl",
            task_attributes=_attributes(summary),
            priority=80,
        )
    )

    assert _verbs(root) == ["Enqueue"]
    enqueue = root[0]
    assert enqueue.attrib["workflowSid"] == WORKFLOW
    assert enqueue.attrib["action"] == DIAL_ACTION  # leaving the queue unanswered is handled like no-answer
    task = enqueue.find("Task")
    assert task is not None
    assert task.attrib["priority"] == "80"
    attributes = json.loads(task.text or "")
    assert attributes["summary"] == summary
    assert attributes["intent"] == "refund"
    assert attributes["language"] == "nl"
    assert attributes["transfer_id"] == "tr1"
    assert attributes["signals"] == {"distress": 0.7, "distress_reasons": ["grief words"], "recognition": 0.9}
    assert attributes["transcript"][-1] == "Beller: geld terug op [IBAN]"


def test_queued_call_without_briefing_still_says_which_language_the_caller_speaks() -> None:
    target = TaskRouterTarget(type="taskrouter", workflow_sid=WORKFLOW)

    root = _parse(transfer_twiml(target, whisper_url=WHISPER, dial_action_url=DIAL_ACTION, language="en"))

    task = root[0].find("Task")
    assert task is not None
    assert json.loads(task.text or "") == {"language": "en"}


def test_task_attributes_mask_personal_data_and_drop_the_oldest_lines_when_too_long() -> None:
    transcript = [f"Beller: zin nummer {i} met iban NL91ABNA0417164300" for i in range(200)]

    attributes = handover_task_attributes(
        transfer_id="tr1", language="nl", intent=None, summary="s", transcript=transcript, distress=0.0, max_chars=2000
    )

    assert len(task_json(attributes)) <= 2000
    lines = attributes["transcript"]
    assert isinstance(lines, list)
    assert lines[-1] == "Beller: zin nummer 199 met iban [IBAN]"
    assert attributes["transcript_lines_dropped"] == 200 - len(lines)
    assert "NL91" not in task_json(attributes)


def test_whisper_plays_the_rendered_summary_to_the_colleague() -> None:
    root = _parse(whisper_twiml("https://ivr.example.nl/audio/summary/tr1.wav"))

    assert _verbs(root) == ["Play"]
    assert root[0].text == "https://ivr.example.nl/audio/summary/tr1.wav"


# ── when the transfer ends ────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("status", ["completed", "answered", "bridged", "hangup"])
def test_call_ends_after_the_caller_spoke_to_a_colleague(status: str) -> None:
    root = _parse(
        dial_result_twiml(status, prompt_audio_urls=OFFER, record_action_url=RECORD, callback_action_url=CALLBACK)
    )

    assert _verbs(root) == ["Hangup"]


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled", "queue-full", "something-new"])
def test_caller_nobody_answered_is_offered_a_call_back_then_voicemail(status: str) -> None:
    offer = [*OFFER, "https://ivr.example.nl/audio/nl/voicemail_hint.wav"]

    root = _parse(
        dial_result_twiml(status, prompt_audio_urls=offer, record_action_url=RECORD, callback_action_url=CALLBACK)
    )

    assert _verbs(root) == ["Gather", "Record", "Hangup"]
    gather, record = root[0], root[1]
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["action"] == CALLBACK
    assert [play.text for play in gather.findall("Play")] == offer
    assert gather.find("Say") is None  # our own voice, not Twilio's
    assert record.attrib["action"] == RECORD
    assert record.attrib["maxLength"] == "120"
    assert record.attrib["playBeep"] == "true"


def test_offer_without_audio_is_refused_rather_than_left_silent() -> None:
    with pytest.raises(ValueError, match="prompt audio"):
        dial_result_twiml("no-answer", prompt_audio_urls=[], record_action_url=RECORD, callback_action_url=CALLBACK)


def test_confirmed_call_back_is_announced_then_the_call_ends() -> None:
    root = _parse(callback_confirmed_twiml("https://ivr.example.nl/audio/nl/callback_confirmed.wav"))

    assert _verbs(root) == ["Play", "Hangup"]
    assert root[0].text == "https://ivr.example.nl/audio/nl/callback_confirmed.wav"


def test_an_enqueued_caller_is_given_hold_twiml_with_a_reassurance_then_hold_audio() -> None:
    queue = TaskRouterTarget(type="taskrouter", workflow_sid=WORKFLOW)
    root = ET.fromstring(
        transfer_twiml(
            queue, whisper_url=WHISPER, dial_action_url=DIAL_ACTION, language="nl", wait_url="https://x/twilio/hold"
        )
    )
    assert root[0].attrib["waitUrl"] == "https://x/twilio/hold"
    assert root[0].attrib["waitUrlMethod"] == "POST"
    hold = ET.fromstring(hold_twiml("https://x/still.wav", "https://x/chime.wav"))
    assert [(p.tag, p.text, p.get("loop")) for p in hold] == [
        ("Play", "https://x/still.wav", None),
        ("Play", "https://x/chime.wav", "2"),
    ]
