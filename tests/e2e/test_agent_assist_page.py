"""The agent page on a phone, in real Chromium, while the colleague talks with the caller: both sides appear live —
heard by the real Korean Vosk model from the call's fork, espeak-ng speech on both tracks — within 1.5 s of each
utterance, next to the order's status (the caller gave the order number to the computer before the transfer).

The dialog before the transfer runs on text (scripted); everything after it is real: the fork over the Media
Streams protocol, recognition, the store, the server-sent events and the browser.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from ivr.simulator.fork import conversation
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import TwilioSimulator
from ivr.speech.stt import VoskEngine
from ivr.transfer.links import sign_link
from tests.e2e.conftest import SPEED, ConsoleServer
from tests.integration.conftest import TRANSFER_SPEED
from tests.integration.console_helpers import console_settings

ORDER_THEN_PERSON = ["waar blijft mijn bestelling", "vier vijf een twee", "ik wil een medewerker"]
TALK = [
    ("agent", "Goedemiddag, u spreekt met Anna van de klantenservice. Waarmee kan ik u helpen?"),
    ("caller", "Ik bel over mijn bestelling, die is nog steeds niet bezorgd en ik word het echt zat."),
    ("agent", "Dat begrijp ik. Ik kijk het meteen voor u na in ons systeem."),
]
#: from the end of an utterance (its last sound sent on the fork) to its line on the agent page
MAX_LINE_LATENCY_S = 1.5
#: a phone-sized screen (CSS pixels)
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def assist_server(ko_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    tmp = tmp_path_factory.mktemp("assist-e2e")
    settings = console_settings(tmp, playback_speed=SPEED, no_input_timeout_s=4.0, endpoint_silence_ms=600)
    recognizers = ScriptedRecognizers(unscripted=VoskEngine(ko_model_path))
    with local_server(settings, recognizers=recognizers) as (url, running):
        yield ConsoleServer(url, running, recognizers)


def _transfer_id(server: ConsoleServer, simulator: TwilioSimulator, call_sid: str, timeout_s: float = 60) -> str:
    """The call's transfer, once Warmline has filed it (the signed call-log endpoint Twilio's side may read)."""
    url = f"{server.base_url}/twilio/calls/{call_sid}/transfer"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = httpx.get(url, headers=simulator.handshake_headers(url), timeout=5)
        if response.status_code == 200:
            return str(response.json()["transfer_id"])
        time.sleep(0.2)
    raise AssertionError(f"call {call_sid} was not transferred within {timeout_s} s")


@pytest.mark.slow
@pytest.mark.model
def test_a_colleague_on_a_phone_sees_both_sides_live_within_a_second_and_a_half_next_to_the_order_status(
    assist_server: ConsoleServer, browser: Browser, screenshots: Path
) -> None:
    server = assist_server
    simulator = TwilioSimulator(
        server.base_url,
        server.settings.auth_token,
        speed=SPEED,
        timeout_s=120,
        api_url=server.settings.twilio_api_url,
        transfer_speed=TRANSFER_SPEED,
    )
    call_sid = simulator.new_call_sid()
    server.recognizers.script(call_sid, ORDER_THEN_PERSON)
    page_open = threading.Event()

    async def when_the_page_is_open() -> None:
        assert await asyncio.to_thread(page_open.wait, 60), "the agent page was never opened"

    talk = conversation(TALK, "nl", start=when_the_page_is_open)
    turns = [text_turn(t, "nl") for t in ORDER_THEN_PERSON]
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="caller") as pool:
            placed = pool.submit(
                lambda: asyncio.run(simulator.call(turns, call_sid=call_sid, agent="accepts", conversation=talk))
            )
            transfer_id = _transfer_id(server, simulator, call_sid)
            page.goto(sign_link(server.base_url, transfer_id, server.settings.auth_token, 600))
            expect(page.locator("#live")).to_be_visible()
            page_open.set()

            lines = page.locator("#live-lines li")
            expect(lines).to_have_count(len(TALK), timeout=60_000)
            expect(page.locator("#live")).to_have_attribute("data-state", "live")
            order = page.locator('#suggestions li[data-kind="order_status"]')
            expect(order).to_contain_text("Bestelling 4512")
            expect(order).to_contain_text("onderweg, met verwachte bezorging morgen")
            expect(order.locator(".why")).to_contain_text("bestelnummer")
            shown = lines.evaluate_all("items => items.map(item => Number(item.dataset.shownAt))")
            speakers = lines.evaluate_all("items => items.map(item => item.className)")
            page.screenshot(path=str(screenshots / "06-agent-assist-phone.png"), full_page=True)
            call = placed.result(timeout=120)
        expect(page.locator("#live")).to_have_attribute("data-state", "ended")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "fits a phone's width"
        assert page.locator("#mood").inner_text().strip(), "the caller's mood is shown"
    finally:
        context.close()

    assert speakers == [who for who, _ in TALK]
    assert call.fork is not None and len(call.fork.spoken) == len(TALK)
    latencies = [at / 1000 - spoken.ended_at for at, spoken in zip(shown, call.fork.spoken, strict=True)]
    print("\nagent page, end of utterance → line on the page (s):", ", ".join(f"{x:.2f}" for x in latencies))
    assert max(latencies) <= MAX_LINE_LATENCY_S, latencies
