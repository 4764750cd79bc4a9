"""Live call state in a real Redis: what one instance writes, another reads at once; claims and resumes are atomic
across instances."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial

import pytest

from ivr.call.progress import Progress, back_state
from ivr.call.record import CallbackRequest, CallRegistry, Outcome
from ivr.call.shared import RedisCallRegistry, call_keys_alive
from ivr.dialog.engine import DialogState
from ivr.telephony.security import StreamTokens
from ivr.transfer.redact import redact
from ivr.understanding import CallSignals
from tests.records import minimal_transfer
from tests.services import RedisServer


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def pair(redis_server: RedisServer, prefix: str) -> Iterator[tuple[RedisCallRegistry, RedisCallRegistry]]:
    """Two instances on one Redis."""
    made = [
        RedisCallRegistry(
            client=redis_server.client(),
            instance_id=name,
            prefix=prefix,
            claim_s=0.5,
            redact=partial(redact, kinds=["bsn", "iban"]),
        )
        for name in ("instance-a", "instance-b")
    ]
    yield made[0], made[1]
    for registry in made:
        registry.client.close()


def _progress(step: str = "order_number", failures: int = 1) -> Progress:
    state = DialogState(step=step, failure_reasons=("not_understood",) * failures, turns=2)  # type: ignore[arg-type]
    return Progress(state=state, signals=CallSignals(intent="refund"), language="nl")


def test_a_call_opened_on_one_instance_is_read_and_written_by_another(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA1", "nl", caller="+3161234xxxx")
    b.add_event("CA1", "caller", text="mijn bsn is 111222333", intent="refund", confidence=0.8)
    a.add_event("CA1", "prompt", key="ask_order", text="Wat is uw ordernummer?")
    b.set_outcome("CA1", Outcome(kind="transfer", reason="refund", transfer_id="T-CA1"))
    a.set_outcome("CA1", Outcome(kind="hangup", reason="too late"))  # the first decision stands
    b.add_transfer(minimal_transfer("CA1", summary="Beller wil geld terug"))

    record = a.get("CA1")
    assert record is not None and record.caller == "+3161234xxxx"
    assert [event.kind for event in record.events] == ["caller", "prompt"]
    assert "111222333" not in record.events[0].text, "redacted before it is kept"
    assert record.outcome is not None and record.outcome.kind == "transfer"
    found = a.transfer_for_call("CA1")
    assert found is not None and found.summary == "Beller wil geld terug"

    a.finish("CA1", "completed")
    ended = b.get("CA1")
    assert ended is not None and ended.status == "completed" and ended.ended is not None


def test_callbacks_from_two_instances_at_once_are_all_kept(pair: tuple[RedisCallRegistry, RedisCallRegistry]) -> None:
    a, b = pair
    a.open("CA2", "nl")
    a.add_transfer(minimal_transfer("CA2"))

    def add(registry: RedisCallRegistry) -> None:
        for _ in range(20):
            registry.add_callback("T-CA2", CallbackRequest(kind="callback"))

    threads = [threading.Thread(target=add, args=(registry,)) for registry in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    b.update_transfer("T-CA2", status="no-answer")
    transfer = a.get_transfer("T-CA2")
    assert transfer is not None and len(transfer.callbacks) == 40 and transfer.status == "no-answer"


def test_a_call_has_one_stream_across_instances_and_a_dead_holders_claim_lapses(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA3", "nl")
    assert a.claim_stream("CA3") is None
    refusal = b.claim_stream("CA3")
    assert refusal is not None and "instance-a" in refusal

    time.sleep(0.3)
    assert a.renew_claims() == 1  # the heartbeat keeps it
    time.sleep(0.3)
    assert b.claim_stream("CA3") is not None, "renewed: still a's"

    time.sleep(0.7)  # a stops renewing (it was killed): the claim lapses
    assert b.claim_stream("CA3") is None
    assert b.stream_holder("CA3") == "instance-b"


def test_the_after_stream_webhook_clears_a_killed_instances_claim(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA4", "nl")
    assert a.claim_stream("CA4") is None
    b.stream_ended("CA4")  # Twilio says the stream is over
    assert b.claim_stream("CA4") is None


def test_a_call_resumes_once_whichever_instances_ask(pair: tuple[RedisCallRegistry, RedisCallRegistry]) -> None:
    a, b = pair
    a.open("CA5", "nl")
    a.save_progress("CA5", _progress())
    granted: list[Progress | None] = []
    barrier = threading.Barrier(2)

    def ask(registry: RedisCallRegistry) -> None:
        barrier.wait()
        granted.append(registry.take_resume("CA5"))

    threads = [threading.Thread(target=ask, args=(registry,)) for registry in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(progress is not None for progress in granted) == 1

    resumed = b.resuming("CA5")
    assert resumed is not None and resumed.resumes == 1
    assert resumed.state.step == "order_number" and resumed.state.failures == 1
    assert resumed.signals.intent == "refund"
    a.save_progress("CA5", _progress(failures=0))  # later turns keep the resume count
    assert a.take_resume("CA5") is None, "a second loss goes to a person"


def test_an_ended_call_takes_no_stream_and_no_resume(pair: tuple[RedisCallRegistry, RedisCallRegistry]) -> None:
    a, b = pair
    a.open("CA6", "nl")
    a.save_progress("CA6", _progress(step="ended"))
    assert b.take_resume("CA6") is None
    a.finish("CA6", "completed")
    refusal = b.claim_stream("CA6")
    assert refusal is not None and "ended" in refusal


def test_a_stream_token_opens_one_stream_whichever_instance_it_reaches(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    issuer = StreamTokens("secret", 60, spend=a.spend_token)
    other = StreamTokens("secret", 60, spend=b.spend_token)
    token = issuer.issue("CA7")
    other.redeem(token, "CA7")
    with pytest.raises(Exception, match="already used"):
        issuer.redeem(token, "CA7")


def test_housekeeping_spares_calls_another_instance_holds_or_may_still_resume(
    pair: tuple[RedisCallRegistry, RedisCallRegistry], prefix: str
) -> None:
    a, b = pair
    alive = call_keys_alive(a.client, prefix)
    a.open("CA8", "nl")
    assert b.claim_stream("CA8") is None
    assert alive("CA8"), "held by a live stream"
    b.release_stream("CA8")
    a.save_progress("CA8", _progress())
    assert alive("CA8"), "its after-stream may still resume it"
    assert a.take_resume("CA8") is not None
    assert not alive("CA8"), "resumed before and no stream: nobody carries it"
    assert not alive("CA-unknown")
    a.finish("CA8", "completed")
    assert alive("CA8"), "just ended: the instance that heard the end writes it"


def test_a_drains_planned_hand_overs_do_not_use_up_the_calls_one_resume(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA9", "nl")
    a.save_progress("CA9", _progress())
    for _ in range(3):  # a rolling deploy moves the call three times
        a.plan_handover("CA9")
        assert b.take_resume("CA9") is not None
    assert a.take_resume("CA9") is not None, "then one loss is still resumed"
    assert b.take_resume("CA9") is None, "and a second loss goes to a person"


def test_a_callers_return_to_warmline_after_an_unanswered_transfer_reopens_the_call_on_any_instance(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA9", "nl")
    before = DialogState(step="order_number", turns=2)
    after = DialogState(step="ended", turns=3)
    a.save_progress("CA9", Progress(after, CallSignals(intent="refund"), "nl", back_state=back_state(before, after)))
    a.set_outcome("CA9", Outcome(kind="transfer", reason="caller_request"))
    assert b.claim_stream("CA9") is not None, "transferred: no stream"

    back = b.back_to_bot("CA9")

    assert back is not None and back.back_to_bot and back.state.step == "order_number"
    record = a.get("CA9")
    assert record is not None and record.outcome is None
    assert a.resuming("CA9") is not None and b.claim_stream("CA9") is None


def test_a_transfer_change_that_changes_nothing_writes_nothing(
    pair: tuple[RedisCallRegistry, RedisCallRegistry],
) -> None:
    a, b = pair
    a.open("CA10", "nl")
    a.add_transfer(minimal_transfer("CA10", "T10"))

    assert b.change_transfer("T10", lambda transfer: None) is None
    changed = b.change_transfer("T10", lambda transfer: transfer.model_copy(update={"status": "ringing"}))
    assert changed is not None and a.get_transfer("T10") is not None
    assert a.get_transfer("T10").status == "ringing"  # type: ignore[union-attr]


def test_the_in_process_registry_and_the_shared_one_are_the_same_interface() -> None:
    assert issubclass(RedisCallRegistry, CallRegistry)
    public = {name for name in vars(CallRegistry) if not name.startswith("_") and callable(getattr(CallRegistry, name))}
    assert public - {"adopt"} <= set(dir(RedisCallRegistry))
