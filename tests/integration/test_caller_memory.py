"""Callers who call again are recognised — by a keyed hash of their number, never the number — and the third call in
a week about the same order goes straight to a person, whose briefing says so. Over the real protocol."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from ivr.cli import app as cli
from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from ivr.store.models import Call
from ivr.store.repository import Store
from tests.integration.conftest import LiveServer

NUMBER = "+31611112222"
ORDER_STATUS = ["waar blijft mijn bestelling", "vier vijf een twee", "nee dank je"]


async def _call(server: LiveServer, simulator: TwilioSimulator, texts: list[str]) -> SimulatedCall:
    assert server.recognizers is not None
    call_sid = simulator.new_call_sid()
    server.recognizers.script(call_sid, texts)
    return await simulator.call([text_turn(t, "nl") for t in texts], call_sid=call_sid)


def _store(server: LiveServer) -> Store:
    return Store.open(server.settings.resolved_database_url)


def _every_stored_value(server: LiveServer) -> str:
    """Every value in every table, as text: what a leak of the database would show."""
    store = _store(server)
    try:
        with store.engine.connect() as connection:
            values = [
                str(value)
                for table in inspect(store.engine).get_table_names()
                for row in connection.execute(text(f'SELECT * FROM "{table}"'))
                for value in row
            ]
    finally:
        store.close()
    return "\n".join(values)


async def test_the_third_call_in_a_week_about_the_same_order_goes_straight_to_a_person_who_is_told_so(
    text_server: LiveServer,
) -> None:
    simulator = text_server.simulator()
    simulator.caller = NUMBER
    first = await _call(text_server, simulator, ORDER_STATUS)
    # the second time, the caller is asked first whether it is about that order again — and says yes
    second = await _call(text_server, simulator, ["ja", "nee dank je"])
    assert first.record is not None and first.record.history == [] and first.record.caller_key
    assert second.record is not None and second.transfer is None, "the second call is still served by Warmline"
    assert [call.order_number for call in second.record.history] == ["4512"]
    assert second.record.caller_key == first.record.caller_key
    prompts = [e.key for e in second.record.events if e.kind == "prompt"]
    assert prompts[:2] == ["greeting_returning", "order_status"], prompts
    greeting = next(e.text for e in second.record.events if e.key == "greeting_returning")
    assert "bestelling 4 5 1 2, waarover u" in greeting and "ook belde" in greeting, greeting

    third = await _call(text_server, simulator, ["waar blijft mijn bestelling"])

    assert third.transfer is not None and third.transfer.rule == "herhaalbeller"
    assert third.record is not None and len(third.record.history) == 2
    summary = third.transfer.summary
    assert "3e oproep in 7 dagen over bestelling 4 5 1 2" in summary, summary
    assert "vorige keer door de computer geholpen" in summary, summary
    # the colleague hears it (the briefing is the spoken summary) and reads it on the agent page
    assert third.agent_legs and third.agent_legs[0].heard[0][:4] == b"RIFF"

    # nothing personal in clear: the number is in no table, in any form
    stored = _every_stored_value(text_server)
    for form in (NUMBER, NUMBER[1:], "0" + NUMBER[3:]):
        assert form not in stored


async def test_a_withheld_number_gets_no_memory(text_server: LiveServer) -> None:
    simulator = text_server.simulator()
    simulator.caller = "anonymous"
    calls = await asyncio.gather(*(_call(text_server, simulator, ORDER_STATUS) for _ in range(3)))

    assert all(c.record is not None and c.record.caller_key == "" and c.record.history == [] for c in calls)
    assert all(c.transfer is None for c in calls), "no memory, so no repeat-caller rule"


async def test_ivr_forget_erases_every_trace_and_the_next_call_is_a_first_call(text_server: LiveServer) -> None:
    number = "+31622223333"
    simulator = text_server.simulator()
    simulator.caller = number
    before = await _call(text_server, simulator, ORDER_STATUS)
    assert before.record is not None
    key = before.record.caller_key

    env = {"IVR_DATA_DIR": str(text_server.settings.data_dir)}
    result = CliRunner().invoke(cli, ["forget", number, "--yes"], env=env)

    assert result.exit_code == 0, result.output
    assert "1 call(s) erased" in result.output
    store = _store(text_server)
    try:
        with store.session() as session:
            assert session.scalars(select(Call).where(Call.caller_key == key)).all() == []
            assert session.scalars(select(Call).where(Call.call_sid == before.call_sid)).all() == []
    finally:
        store.close()
    after = await _call(text_server, simulator, ORDER_STATUS)
    assert after.record is not None and after.record.caller_key == key and after.record.history == []
