"""The transfer desk: turns a transfer decision into a briefed colleague.

While the caller hears "I'm connecting you to a colleague…", the desk writes the summary in the agent's language,
renders it to speech for the whisper, redacts the transcript, and files the transfer so the webhooks (whisper,
dial result, agent page) can find it.
"""

from __future__ import annotations

import logging
import secrets
import time

from ivr.call.record import CallRegistry, FallbackTarget, TransferRecord
from ivr.call.session import HandoverRequest
from ivr.config import Settings
from ivr.dialog.flow import Flow
from ivr.speech.tts import SpeechSynthesizer
from ivr.transfer.assist import load_assist_texts
from ivr.transfer.redact import redact
from ivr.transfer.summary import HandoverFacts, build_summary, extract_facts, load_summary_templates

log = logging.getLogger(__name__)


class TransferDesk:
    def __init__(
        self, settings: Settings, synth: SpeechSynthesizer, registry: CallRegistry, flows: dict[str, Flow]
    ) -> None:
        self._settings = settings
        self._synth = synth
        self._registry = registry
        self._flows = flows
        self._templates = {lang: load_summary_templates(settings.grammars_dir, lang) for lang in flows}
        #: the live agent page's words, per language (validated at start-up, like the summaries)
        self.assist_texts = {lang: load_assist_texts(settings.grammars_dir, lang) for lang in flows}

    @property
    def agent_language(self) -> str:
        return self._settings.agent_language or self._settings.language

    async def open(self, request: HandoverRequest) -> str:
        """File the transfer with its spoken summary; returns the transfer id used in URLs."""
        transfer_id = secrets.token_urlsafe(12)
        record = self._registry.get(request.call_sid)
        events = record.events if record is not None else []
        caller_lines = [e.text for e in events if e.kind == "caller" and e.text]
        language = self.agent_language
        signals = request.signals
        decision = request.decision
        facts = HandoverFacts(
            intent=signals.intent,
            utterances=tuple(caller_lines),
            facts=extract_facts(caller_lines, request.language, order_number=request.dialog.facts.order_number),
            tried=tuple(self._tried(request)),
            rule_description=decision.reason,
            builtin_reason=decision.code if decision.builtin else None,
            distress_level=signals.distress.level,
            distress_reasons=signals.distress.reasons,
            recognition_level=signals.recognition.level,
            previous=signals.history,
            at=time.time(),
        )
        summary = build_summary(facts, language, self._templates[language])
        wav = await self._synth.synthesize_wav(summary.text, language)
        transcript = [
            f"{'Beller' if e.kind == 'caller' else 'Warmline'}: {redact(e.text)}"
            for e in events
            if e.kind in ("caller", "prompt") and e.text
        ]
        self._registry.add_transfer(
            TransferRecord(
                transfer_id=transfer_id,
                call_sid=request.call_sid,
                language=request.language,
                rule=decision.rule,
                reason=decision.reason,
                code=decision.code,
                target_name=decision.target_name,
                target={k: str(v) for k, v in decision.target.model_dump().items()},
                priority=decision.priority,
                intent=signals.intent,
                summary=summary.text,
                summary_language=language,
                summary_audio=str(wav),
                transcript=transcript,
                distress=signals.distress.level,
                distress_reasons=list(signals.distress.reasons),
                recognition=signals.recognition.level,
                fallbacks=[
                    FallbackTarget(name=name, target={k: str(v) for k, v in target.model_dump().items()})
                    for name, target in decision.fallbacks
                ],
            )
        )
        log.info("call %s: transfer %s to %s (%s)", request.call_sid, transfer_id, decision.target_name, decision.rule)
        return transfer_id

    def _tried(self, request: HandoverRequest) -> list[str]:
        tried: list[str] = []
        if request.dialog.facts.order_number is not None:
            tried.append("order_status")
        return tried
