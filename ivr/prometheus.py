"""``GET /metrics`` in the Prometheus text format: what an operator graphs and alerts on.

The numbers live where they are produced (the registry, the recogniser pool, the store writer, ``ServerMetrics``);
a collector reads them at scrape time, so nothing on the call path talks to prometheus-client except the turn
latency histogram. Each app has its own ``CollectorRegistry`` (tests build many apps in one process). Names are
``warmline_*`` with their unit in the name, and stay stable.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, Outcome, TransferRecord

#: seconds from the end of the caller's speech to our first answer frame
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_REMEMBERED = 10_000


def turn_latency_histogram() -> Histogram:
    return Histogram(
        "warmline_turn_latency_seconds",
        "End of the caller's speech to the first frame of the answer (server part, after endpointing).",
        buckets=LATENCY_BUCKETS,
        registry=None,
    )


#: seconds for the understanding step of a caller turn (sentence vector, dialog step, signals, rules)
UNDERSTANDING_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.1, 0.25)


def understanding_histogram() -> Histogram:
    return Histogram(
        "warmline_understanding_seconds",
        "Understanding one caller turn: its sentence vector, the dialog step, the signals and the rules.",
        buckets=UNDERSTANDING_BUCKETS,
        registry=None,
    )


@dataclass
class CallCounters:
    """A :class:`ivr.call.record.CallSink` that counts how calls end (transfer, self-service, abandoned) and why
    transfers happen. It only counts: cheap enough to sit beside the store writer on every change."""

    outcomes: Counter[str] = field(default_factory=Counter)
    transfer_reasons: Counter[str] = field(default_factory=Counter)
    _pending: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call_opened(self, record: CallRecord) -> None:
        return None

    def event_added(self, call_sid: str, seq: int, event: CallEvent) -> None:
        return None

    def outcome_set(self, call_sid: str, outcome: Outcome) -> None:
        with self._lock:
            self._pending[call_sid] = "transfer" if outcome.kind == "transfer" else "self_service"
            while len(self._pending) > _REMEMBERED:
                self._pending.popitem(last=False)
            if outcome.kind == "transfer":
                self.transfer_reasons[outcome.reason or "unknown"] += 1

    def call_finished(self, call_sid: str, status: str, ended: float) -> None:
        with self._lock:
            self.outcomes[self._pending.pop(call_sid, "abandoned")] += 1

    def transfer_added(self, transfer: TransferRecord) -> None:
        return None

    def transfer_updated(self, transfer: TransferRecord) -> None:
        return None

    def callback_added(self, transfer_id: str, request: CallbackRequest) -> None:
        return None

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.outcomes), dict(self.transfer_reasons)


@dataclass(frozen=True)
class Gauges:
    """What the collector reads at scrape time (callables: the values change while the server runs)."""

    active_calls: Callable[[], float]
    recognizers_in_use: Callable[[], float]
    late_frames: Callable[[], float]
    frames_sent: Callable[[], float]
    store_backlog: Callable[[], float]
    store_oldest_unwritten_s: Callable[[], float]
    draining: Callable[[], float]


class WarmlineCollector(Collector):
    def __init__(self, gauges: Gauges, counters: CallCounters, *histograms: Histogram) -> None:
        self._gauges = gauges
        self._counters = counters
        self._histograms = histograms

    def collect(self) -> Iterator[Metric]:
        g = self._gauges
        yield GaugeMetricFamily("warmline_active_calls", "Calls with a live media stream.", value=g.active_calls())
        yield GaugeMetricFamily(
            "warmline_recognizer_pool_in_use", "Recognisers lent to talking callers.", value=g.recognizers_in_use()
        )
        yield GaugeMetricFamily("warmline_draining", "1 while the instance drains for a deploy.", value=g.draining())
        yield GaugeMetricFamily(
            "warmline_store_backlog", "Changes waiting to be written to the database.", value=g.store_backlog()
        )
        yield GaugeMetricFamily(
            "warmline_store_oldest_unwritten_seconds",
            "How long the oldest change not yet in the database has waited.",
            value=g.store_oldest_unwritten_s(),
        )
        yield CounterMetricFamily(
            "warmline_late_frames",
            "Outbound audio frames that reached Twilio after their playout time.",
            g.late_frames(),
        )
        yield CounterMetricFamily("warmline_frames_sent", "Outbound audio frames sent.", g.frames_sent())
        outcomes, reasons = self._counters.snapshot()
        calls = CounterMetricFamily("warmline_calls", "Finished calls by how they ended.", labels=["outcome"])
        for outcome in ("self_service", "transfer", "abandoned"):
            calls.add_metric([outcome], outcomes.get(outcome, 0))
        yield calls
        transfers = CounterMetricFamily("warmline_transfers", "Transfers to a person by reason.", labels=["reason"])
        for reason, count in sorted(reasons.items()):
            transfers.add_metric([reason], count)
        yield transfers
        for histogram in self._histograms:
            yield from histogram.collect()


def exposition(gauges: Gauges, counters: CallCounters, *histograms: Histogram) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WarmlineCollector(gauges, counters, *histograms))
    return generate_latest(registry)
