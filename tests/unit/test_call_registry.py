"""The live call registry keeps only what live calls need, and never a caller's personal numbers in clear."""

from __future__ import annotations

from functools import partial

from ivr.call.record import CallRegistry
from ivr.transfer.redact import redact
from tests.records import minimal_transfer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_what_a_caller_keys_in_or_says_is_redacted_before_it_is_kept() -> None:
    registry = CallRegistry(redact=partial(redact, kinds=["bsn", "iban"]))
    registry.open("CA1", "nl")
    registry.add_event("CA1", "caller", text="mijn bsn is 111222333 en mijn iban NL91ABNA0417164300")
    record = registry.get("CA1")
    assert record is not None
    said = record.events[0].text
    assert "111222333" not in said and "NL91ABNA0417164300" not in said and "[BSN]" in said


def test_finished_calls_are_forgotten_after_the_grace_period_with_their_transfers() -> None:
    clock = Clock()
    registry = CallRegistry(clock=clock, finished_grace_s=600)
    registry.open("CA-done", "nl")
    registry.add_transfer(minimal_transfer("CA-done"))
    registry.finish("CA-done", "completed")
    registry.open("CA-live", "nl")

    clock.now += 60
    registry.open("CA-new", "nl")  # a sweep: the finished call is still within its grace period
    assert registry.get("CA-done") is not None

    clock.now += 601 + 3600  # late webhooks are long done
    registry.open("CA-later", "nl")
    assert registry.get("CA-done") is None and registry.get_transfer("T-CA-done") is None
    assert registry.get("CA-live") is not None, "a live call is kept"


def test_a_call_whose_end_was_never_reported_is_forgotten_after_the_maximum_age() -> None:
    clock = Clock()
    registry = CallRegistry(clock=clock, max_age_s=3600)
    registry.open("CA-lost", "nl")
    clock.now += 3601
    registry.open("CA-next", "nl")
    assert registry.get("CA-lost") is None
