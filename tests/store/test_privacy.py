"""Personal data never reaches the tables: realistic Dutch numbers are masked on the way in, as configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.call.record import CallEvent, CallRegistry, Outcome, TransferRecord
from ivr.config import Settings
from ivr.store.repository import Store
from ivr.store.writer import StoreWriter
from ivr.transfer.redact import passes_eleven_proof

IBAN = "NL91ABNA0417164300"  # valid mod-97
BSN = "111222333"  # passes the 11-proof
SAID = f"mijn rekening is {IBAN}, mijn bsn is {BSN}, bel me op 06 12345678 of mail jan.jansen@example.nl, order 4512"


@pytest.fixture
def writer(store: Store) -> Iterator[StoreWriter]:
    running = StoreWriter(store).start()
    yield running
    running.close()


def test_the_examples_are_real_dutch_numbers() -> None:
    assert passes_eleven_proof(BSN)
    compact = IBAN[4:] + IBAN[:4]
    assert int("".join(str(int(ch, 36)) for ch in compact)) % 97 == 1


def test_iban_bsn_phone_and_email_are_masked_before_storage(store: Store, writer: StoreWriter) -> None:
    registry = CallRegistry(sink=writer)
    registry.open("CA1", "nl", caller="+31612345678")
    registry.add_event("CA1", "caller", text=SAID, intent=None, detail=f"heard {BSN}")
    registry.set_outcome("CA1", Outcome(kind="transfer", reason="asked", transfer_id="TR1"))
    registry.add_transfer(
        TransferRecord(
            transfer_id="TR1",
            call_sid="CA1",
            language="nl",
            rule="r",
            reason="asked",
            code="c",
            target_name="Team",
            target={},
            priority=1,
            summary=f"Beller gaf IBAN {IBAN} en telefoon 0612345678.",
        )
    )
    assert writer.flush()

    call = store.get_call("CA1")
    assert call is not None and call.transfer is not None
    stored = call.turns[0].text
    assert stored == ("mijn rekening is [IBAN], mijn bsn is [BSN], bel me op [PHONE] of mail [EMAIL], order 4512")
    assert call.turns[0].detail == "heard [BSN]"
    assert call.transfer.summary == "Beller gaf IBAN [IBAN] en telefoon [PHONE]."
    assert call.caller_masked == "+316******78"
    dumped = repr([(t.text, t.detail) for t in call.turns]) + call.transfer.summary + call.caller_masked
    for secret in (IBAN, BSN, "12345678", "jan.jansen", "+31612345678"):
        assert secret not in dumped


def test_a_deployment_can_choose_what_is_masked(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_REDACT", "iban,email")
    settings = Settings()
    store = Store.open(database_url, redact_kinds=settings.redact)
    try:
        store.call_started(CallRegistry().open("CA2", "nl"))
        store.add_turn("CA2", 1, CallEvent(at=1.0, kind="caller", text=SAID))
        call = store.get_call("CA2")
        assert call is not None
        assert call.turns[0].text == (
            f"mijn rekening is [IBAN], mijn bsn is {BSN}, bel me op 06 12345678 of mail [EMAIL], order 4512"
        )
    finally:
        store.close()


def test_settings_mask_everything_by_default_and_nothing_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().redact == ["iban", "bsn", "card", "phone", "email", "number"]
    monkeypatch.setenv("IVR_REDACT", "none")
    assert Settings().redact == []
    monkeypatch.setenv("IVR_REDACT", "iban,passport")
    with pytest.raises(ValueError, match="iban"):
        Settings()
