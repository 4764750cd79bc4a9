"""Warm-transfer TwiML: the caller waits on hold in the transfer's own queue, the colleague hears the summary and
accepts with 1, queued calls carry their briefing, and a caller nobody answers is offered a call-back, Warmline or
voicemail instead of silence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ivr.rules.schema import PhoneTarget, SipTarget, TaskRouterTarget
from ivr.transfer.twiml import (
    agent_bridge_twiml,
    agent_briefing_twiml,
    agent_hang_up_twiml,
    callback_confirmed_twiml,
    dial_result_twiml,
    handover_task_attributes,
    hold_twiml,
    leave_queue_twiml,
    queue_name,
    task_json,
    transfer_twiml,
)

WAIT = "https://ivr.example.nl/twilio/hold?language=nl&transfer=tr1"
SUMMARY = "https://ivr.example.nl/audio/summaries/tr1?exp=1&sig=x"
ACCEPT = "https://ivr.example.nl/audio/prompts/nl/agent_accept.wav"
KEY_ACTION = "https://ivr.example.nl/twilio/agent-key?transfer=tr1&attempt=0"
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


# ── holding the caller while a colleague is found ─────────────────────────────────────────────────────────
def _transfer(target: PhoneTarget | SipTarget | TaskRouterTarget, **values: object) -> ET.Element:
    return _parse(
        transfer_twiml(
            target,
            transfer_id="tr1",
            wait_url=WAIT,
            dial_action_url=DIAL_ACTION,
            language=str(values.pop("language", "nl")),
            **values,  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize(
    "target", [PhoneTarget(type="phone", number="+31201234567"), SipTarget(type="sip", uri="sip:rouw@pbx.example.nl")]
)
def test_a_phone_or_sip_transfer_holds_the_caller_in_the_transfers_own_queue(
    target: PhoneTarget | SipTarget,
) -> None:
    root = _transfer(target)

    assert _verbs(root) == ["Enqueue"]
    enqueue = root[0]
    assert enqueue.text == queue_name("tr1") == "warmline-tr1"
    assert enqueue.attrib["waitUrl"] == WAIT  # query string survives XML escaping
    assert enqueue.attrib["waitUrlMethod"] == "POST"
    assert enqueue.attrib["action"] == DIAL_ACTION
    assert "workflowSid" not in enqueue.attrib


def test_the_colleague_hears_the_summary_then_is_asked_to_press_1_and_silence_counts_as_declined() -> None:
    root = _parse(agent_briefing_twiml(SUMMARY, ACCEPT, key_action_url=KEY_ACTION, wait_s=6))

    assert _verbs(root) == ["Gather"]
    gather = root[0]
    assert gather.attrib["numDigits"] == "1" and gather.attrib["timeout"] == "6"
    assert gather.attrib["action"] == KEY_ACTION
    assert gather.attrib["actionOnEmptyResult"] == "true", "no key in time must reach us too"
    assert [(p.tag, p.text) for p in gather] == [("Play", SUMMARY), ("Play", ACCEPT)]


def test_an_accepting_colleague_takes_the_caller_out_of_that_transfers_queue() -> None:
    root = _parse(agent_bridge_twiml("tr1"))

    queue = root.find("Dial/Queue")
    assert queue is not None and queue.text == "warmline-tr1"


def test_a_machine_is_hung_up_on_without_a_word_and_a_late_colleague_is_told_why() -> None:
    assert _verbs(_parse(agent_hang_up_twiml())) == ["Hangup"]
    late = _parse(agent_hang_up_twiml("https://x/agent_too_late.wav"))
    assert [(v.tag, v.text) for v in late] == [("Play", "https://x/agent_too_late.wav"), ("Hangup", None)]


def test_a_caller_nobody_could_take_leaves_the_queue_for_the_offer() -> None:
    assert _verbs(_parse(leave_queue_twiml())) == ["Leave"]


def test_taskrouter_target_enqueues_the_call_with_its_briefing_as_task_attributes() -> None:
    target = TaskRouterTarget(type="taskrouter", workflow_sid=WORKFLOW)
    summary = 'Beller wil geld terug & zegt "<dringend>". Klinkt emotioneel.'

    root = _transfer(target, task_attributes=_attributes(summary), priority=80)

    assert _verbs(root) == ["Enqueue"]
    enqueue = root[0]
    assert enqueue.attrib["workflowSid"] == WORKFLOW
    assert enqueue.attrib["action"] == DIAL_ACTION  # leaving the queue unanswered is handled like no-answer
    assert enqueue.attrib["waitUrl"] == WAIT
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

    root = _transfer(target, language="en")

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


def test_a_waiting_caller_hears_the_news_then_hold_audio() -> None:
    hold = ET.fromstring(hold_twiml(["https://x/still.wav"], "https://x/chime.wav", plays=2))
    assert [(p.tag, p.text, p.get("loop")) for p in hold] == [
        ("Play", "https://x/still.wav", None),
        ("Play", "https://x/chime.wav", "2"),
    ]
    first = ET.fromstring(hold_twiml([], "https://x/chime.wav"))
    assert [(p.tag, p.text) for p in first] == [("Play", "https://x/chime.wav")]
