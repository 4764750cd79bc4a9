"""The long-lived things one server process shares, built once at start-up and torn down at shutdown.

Loading the Vosk model and starting the TTS owner thread are expensive; doing them here, once, is what lets every
call get its own cheap recogniser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ivr.call.record import CallRecord, CallRegistry, Sinks, TransferRecord
from ivr.call.session import SessionDeps
from ivr.call.shared import RedisCallRegistry, call_keys_alive, connect
from ivr.config import Language, Settings
from ivr.dialog.actions import GrammarName
from ivr.dialog.engine import DialogContext
from ivr.dialog.flow import Flow, load_flow
from ivr.dialog.service import JsonServiceData, ServiceData
from ivr.drain import Drain
from ivr.files import write_atomically
from ivr.metrics import ServerMetrics
from ivr.prometheus import CallCounters
from ivr.rules.book import RuleBook
from ivr.rules.loader import RulesError
from ivr.rules.sync import RulesChannel
from ivr.signals import model_store
from ivr.signals.distress import DistressLexicon, load_distress_lexicon
from ivr.signals.encoder import EncoderChoice
from ivr.speech.decode_pool import DecodePool
from ivr.speech.tts import SpeechSynthesizer
from ivr.speech.types import RecognizerFactory
from ivr.store.ownership import Ownership
from ivr.store.records import call_record, transfer_record
from ivr.store.repository import Store
from ivr.store.writer import StoreWriter
from ivr.telephony.rest import TwilioCalls
from ivr.telephony.security import SignatureChecker, StreamTokens
from ivr.transfer.desk import TransferDesk
from ivr.transfer.redact import redact

log = logging.getLogger(__name__)

LANGUAGES: tuple[Language, ...] = ("nl", "en")


@dataclass
class Runtime:
    settings: Settings
    signatures: SignatureChecker
    tokens: StreamTokens
    registry: CallRegistry
    session_deps: SessionDeps
    synth: SpeechSynthesizer
    pool: DecodePool
    model_name: str
    metrics: ServerMetrics
    rulebook: RuleBook
    desk: TransferDesk
    flows: dict[str, Flow]
    store: Store
    writer: StoreWriter
    ownership: Ownership
    counters: CallCounters
    #: with shared live state: rules published here reach the other instances, and theirs reach this one
    rules_channel: RulesChannel | None = None
    #: Twilio's REST API, to ring a colleague for a warm transfer (built on first use: most runs never transfer)
    twilio_calls: TwilioCalls | None = None
    drain: Drain = field(default_factory=Drain)
    started: float = field(default_factory=time.time)
    startup_seconds: dict[str, float] = field(default_factory=dict)

    def reload_language(self, language: str) -> None:
        """Supervisors taught new wording (console, missed utterances): calls that start from now on use the
        grammars as they are on disk; calls in progress finish with the flow they started with."""
        flow = load_flow(self.settings.grammars_dir, language)
        dialogs = self.session_deps.dialogs
        if not isinstance(dialogs, dict):
            raise TypeError("the dialogs of a runtime are a dict")
        self.flows[language] = flow
        dialogs[language] = dataclasses.replace(dialogs[language], flow=flow)

    @property
    def shared_state(self) -> bool:
        """Live call state is in Redis: any instance can carry on any call."""
        return isinstance(self.registry, RedisCallRegistry)

    def take_published_rules(self, text: str) -> None:
        """Rules another instance published: written to this instance's rules file and reloaded (validated as any
        edit; a refused text is put back so the file and the active rules never disagree)."""
        previous = self.rulebook.path.read_text(encoding="utf-8") if self.rulebook.path.exists() else None
        write_atomically(self.rulebook.path, text)
        try:
            self.rulebook.reload()
        except RulesError:
            if previous is not None:
                write_atomically(self.rulebook.path, previous)
            raise

    def calls_api(self) -> TwilioCalls:
        """The Twilio REST client for ringing colleagues (one per process)."""
        if self.twilio_calls is None:
            self.twilio_calls = TwilioCalls(self.settings)
        return self.twilio_calls

    async def recall_transfer(self, transfer_id: str) -> TransferRecord | None:
        """The transfer from memory, or from the store (a restart or eviction since), taken back into memory so
        that what the webhooks change about it is written as usual."""
        found = self.registry.get_transfer(transfer_id)
        if found is not None:
            return found
        stored = await asyncio.to_thread(transfer_record, self.store, transfer_id)
        if stored is not None:
            call = await asyncio.to_thread(call_record, self.store, stored.call_sid)
            if call is not None:
                self.registry.adopt(call, stored)
        return stored

    async def recall_call(self, call_sid: str) -> tuple[CallRecord | None, TransferRecord | None]:
        """The call and its transfer (if it was transferred), from memory or else from the store."""
        record = self.registry.get(call_sid)
        if record is None:
            record = await asyncio.to_thread(call_record, self.store, call_sid)
            if record is None:
                return None, None
            self.registry.adopt(record)
        transfer_id = record.outcome.transfer_id if record.outcome is not None else ""
        return record, (await self.recall_transfer(transfer_id) if transfer_id else None)

    def close(self) -> None:
        self.synth.close()
        self.pool.shutdown()
        self.writer.close()  # drains the queue: what calls said before shutdown is written
        try:
            self.ownership.stop()
        except Exception:
            log.exception("could not record this server's shutdown in the store")
        self.store.close()
        if isinstance(self.registry, RedisCallRegistry):
            self.registry.client.close()


def load_service_data(settings: Settings) -> ServiceData:
    return JsonServiceData(settings.service_data or settings.grammars_dir / "service_data.json")


def build_dialogs(
    settings: Settings, services: ServiceData, encoder: EncoderChoice = "shared"
) -> tuple[dict[str, DialogContext], dict[str, Flow]]:
    model_store.configure(settings.understanding_cache_dir)
    flows: dict[str, Flow] = {lang: load_flow(settings.grammars_dir, lang, encoder) for lang in LANGUAGES}
    contexts: dict[str, DialogContext] = {
        lang: DialogContext(
            flow=flow,
            services=services,
            company=settings.company_name,
            min_confidence=settings.min_confidence,
        )
        for lang, flow in flows.items()
    }
    return contexts, flows


def build_runtime(settings: Settings, recognizers: RecognizerFactory, model_name: str) -> Runtime:
    """Everything except the recogniser factory, which the caller loads (real model) or injects (scripted)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    services = load_service_data(settings)
    dialogs, flows = build_dialogs(settings, services)
    timings["dialogs"] = time.perf_counter() - t0

    def grammar_phrases(language: str, grammar: GrammarName) -> list[str] | None:
        return flows[language].grammar_phrases(grammar)

    t0 = time.perf_counter()  # first: a wrong IVR_DATABASE_URL fails start-up before threads exist
    store = Store.open(settings.resolved_database_url, redact_kinds=settings.redact)
    shared = connect(settings.redis_url) if settings.redis_url else None
    ownership = Ownership(
        store,
        stale_after_s=3 * settings.instance_heartbeat_s,
        still_live=call_keys_alive(shared) if shared is not None else None,
    )
    ownership.close_orphaned()  # calls a killed predecessor left open; never a live neighbour's
    ownership.register()
    # Changes the database could not take before the last shutdown wait in this journal (one data dir per server).
    writer = StoreWriter(store, journal_path=settings.data_dir / "store-journal.jsonl").start()
    timings["store"] = time.perf_counter() - t0
    synth = SpeechSynthesizer(
        settings.audio_cache_dir, settings.grammars_dir, rate=settings.tts_rate, cache=settings.tts_cache
    )
    synth.start()
    pool = DecodePool(settings.decode_workers)
    counters = CallCounters()
    sink = Sinks((writer, counters))
    registry: CallRegistry
    if shared is not None:
        registry = RedisCallRegistry(
            client=shared,
            instance_id=ownership.instance_id,
            claim_s=settings.stream_claim_s,
            sink=sink,
            redact=partial(redact, kinds=settings.redact),
        )
        spend = registry.spend_token
    else:
        registry = CallRegistry(sink=sink, redact=partial(redact, kinds=settings.redact))
        spend = None
    metrics = ServerMetrics()
    known_intents = {label for flow in flows.values() for label in flow.intents.labels}
    rulebook = RuleBook(
        settings.rules_file,
        settings.data_dir,
        known_intents=known_intents,
        on_accept=lambda version, text: store.save_rule_version(
            text,
            source="file",
            author="rules file",
            note=f"{version.source} (file version {version.number})",
            dedupe=True,
        ),
    )
    lexicons: dict[str, DistressLexicon] = {
        lang: load_distress_lexicon(settings.grammars_dir, lang) for lang in LANGUAGES
    }
    desk = TransferDesk(settings, synth, registry, flows)
    deps = SessionDeps(
        recognizers=recognizers,
        pool=pool,
        synth=synth,
        dialogs=dialogs,
        registry=registry,
        settings=settings,
        grammar_phrases=grammar_phrases,
        metrics=metrics,
        rules=lambda: rulebook.active,
        lexicons=lexicons,
        handovers=desk,
    )
    channel = (
        RulesChannel(shared, settings.redis_url, ownership.instance_id)
        if shared is not None and settings.redis_url
        else None
    )
    return Runtime(
        rules_channel=channel,
        settings=settings,
        signatures=SignatureChecker(settings.auth_token),
        tokens=StreamTokens(settings.auth_token, settings.stream_token_ttl_s, spend=spend),
        registry=registry,
        session_deps=deps,
        synth=synth,
        pool=pool,
        model_name=model_name,
        metrics=metrics,
        rulebook=rulebook,
        desk=desk,
        flows=flows,
        store=store,
        writer=writer,
        ownership=ownership,
        counters=counters,
        startup_seconds=timings,
    )


def model_label(path: Path) -> str:
    return path.name if path.name != "model" else path.parent.name
