"""A supervisor's tour of the console in a real browser: log in, watch a call arrive live, read it back, break and fix
a rule, dry-run it against stored calls, publish, roll back, and teach the machine a missed sentence.

Screenshots of every page land in test-artifacts/screenshots/ for review.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from ivr.cli import app as cli
from ivr.simulator.cloud import AgentBehaviour
from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from ivr.transfer.links import sign_link
from tests.e2e.conftest import SPEED, ConsoleServer
from tests.integration.conftest import TRANSFER_SPEED

PASSWORD = "correct horse battery"
FRAUD = "help er is geld van mijn rekening gehaald ik denk dat ik opgelicht ben"
#: a caller the bot first fails to understand, then helps: long enough to watch live, and one missed utterance
LIVE_CALL = ["ik zoek mijn kat", "waar blijft mijn bestelling", "vier vijf een twee", "nee"]


@pytest.fixture(scope="module")
def calls() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="caller") as pool:
        yield pool


def place_call(
    server: ConsoleServer, pool: ThreadPoolExecutor, texts: list[str], agents: tuple[AgentBehaviour, ...] = ()
) -> tuple[str, Future[SimulatedCall]]:
    """Start a simulated phone call (real webhooks and media stream) in the background; the browser watches.
    With ``agents``, this call's simulator stands in for Twilio's REST API (one call at a time may: it listens on
    the server's API port) and the colleagues rung behave as ``agents`` says, in order."""
    simulator = TwilioSimulator(
        server.base_url,
        server.settings.auth_token,
        speed=SPEED,
        timeout_s=90,
        api_url=server.settings.twilio_api_url if agents else None,
        transfer_speed=TRANSFER_SPEED,
    )
    call_sid = simulator.new_call_sid()
    server.recognizers.script(call_sid, texts)
    turns = [text_turn(t, "nl") for t in texts]
    return call_sid, pool.submit(
        lambda: asyncio.run(simulator.call(list(turns), call_sid=call_sid, agent=agents or "accepts"))
    )


def add_supervisor(server: ConsoleServer, username: str) -> None:
    """Through the real ``ivr users add`` command, against the server's database."""
    env = {"IVR_DATA_DIR": str(server.settings.data_dir), "IVR_USER_PASSWORD": PASSWORD}
    result = CliRunner().invoke(cli, ["users", "add", username, "--role", "supervisor"], env=env)
    assert result.exit_code == 0, result.output


def shot(page: Page, directory: Path, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)


def wait_until_stored_as_ended(page: Page, base_url: str, call_sid: str, timeout_s: float = 15) -> None:
    """The store is written off the call path; give the writer a moment after the line closes."""
    deadline = time.monotonic() + timeout_s
    row = page.locator(f'#calls tr[data-call="{call_sid}"]')
    while True:
        page.goto(f"{base_url}/admin/calls")
        if row.count() and "in-progress" not in row.inner_text():
            return
        assert time.monotonic() < deadline, f"call {call_sid} was not stored as ended"
        time.sleep(0.3)


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing ``needle``."""
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


@pytest.mark.slow
def test_supervisor_watches_a_call_live_then_changes_publishes_and_rolls_back_rules(
    console_server: ConsoleServer, page: Page, calls: ThreadPoolExecutor, screenshots: Path
) -> None:
    base = console_server.base_url
    rules_file = console_server.settings.rules_file
    original_rules = rules_file.read_text(encoding="utf-8")
    add_supervisor(console_server, "sanne")
    fraud_sid, fraud_call = place_call(console_server, calls, [FRAUD])  # a stored call for the dry run
    # the first colleague declines after the summary, the fallback accepts: the call page shows why
    declined_sid, declined_call = place_call(console_server, calls, ["ik wil een medewerker"], ("declines", "accepts"))

    # ── log in ──────────────────────────────────────────────────────────────────────────────────────────────
    page.goto(f"{base}/admin/live")
    expect(page).to_have_url(f"{base}/admin/login?next=/admin/live")
    page.fill("input[name=username]", "sanne")
    page.fill("input[name=password]", PASSWORD)
    shot(page, screenshots, "01-login")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/admin/live")
    expect(page.locator("#who")).to_have_text("sanne · supervisor")

    # ── a call appears live, without reloading the page ────────────────────────────────────────────────────
    live_sid, live_call = place_call(console_server, calls, LIVE_CALL)
    row = page.locator(f'#live-calls tr[data-call="{live_sid}"]')
    expect(row).to_be_visible(timeout=20_000)
    expect(page.locator("#live-status")).to_have_text("live")
    expect(row).to_contain_text("nl")
    shot(page, screenshots, "02-live-call")
    live = live_call.result(timeout=60)
    assert live.record is not None
    expect(row).to_have_count(0, timeout=15_000)  # it leaves the live view when it ends

    # ── open it: the conversation turn by turn, with signals ───────────────────────────────────────────────
    wait_until_stored_as_ended(page, base, live_sid)
    shot(page, screenshots, "03-calls")
    page.click(f'#calls tr[data-call="{live_sid}"] a')
    expect(page.locator("#turns")).to_contain_text("waar blijft mijn bestelling")
    expect(page.locator("#turns tr.caller").first).to_contain_text("unknown")
    shot(page, screenshots, "04-call-detail")

    # ── the transferred call: summary and its audio player ─────────────────────────────────────────────────
    assert fraud_call.result(timeout=60).transfer is not None
    wait_until_stored_as_ended(page, base, fraud_sid)
    page.goto(f"{base}/admin/calls/{fraud_sid}")
    expect(page.locator("#outcome")).to_contain_text("fraude → fraudeteam")
    audio = page.locator("#summary-audio")
    expect(audio).to_be_visible()
    wav = page.request.get(base + str(audio.get_attribute("src")))
    assert wav.ok and wav.headers["content-type"] == "audio/wav" and wav.body()[:4] == b"RIFF"
    shot(page, screenshots, "05-transfer-detail")

    # ── a transfer's steps: who was rung, who declined, who took it, with times ────────────────────────────
    assert declined_call.result(timeout=90).queue_result == "bridged"
    wait_until_stored_as_ended(page, base, declined_sid)
    page.goto(f"{base}/admin/calls/{declined_sid}")
    steps = page.locator("#transfer-steps li")
    expect(steps).to_have_count(8)
    expect(page.locator("#transfer-steps")).to_contain_text("declined")
    expect(page.locator("#transfer-steps li.accepted")).to_contain_text("avonddienst")
    expect(page.locator("#transfer-steps li.bridged")).to_contain_text("caller and colleague connected")
    expect(steps.first).to_contain_text(re.compile(r"\d\d:\d\d:\d\d"))
    page.locator("#transfer-steps").scroll_into_view_if_needed()
    shot(page, screenshots, "05b-transfer-steps")

    # ── the agent's page links supervisors to the same call in the console ─────────────────────────────────
    transfer = fraud_call.result().transfer
    assert transfer is not None
    page.goto(sign_link(base, transfer.transfer_id, console_server.settings.auth_token, 600))
    page.click("#console-link")
    expect(page).to_have_url(f"{base}/admin/calls/{fraud_sid}")

    # ── break a rule: the error shows on its line ──────────────────────────────────────────────────────────
    page.goto(f"{base}/admin/rules")
    text = page.input_value("#rules-text")
    broken_line = line_of(text, "priority: 95")
    page.fill("#rules-text", text.replace("priority: 95", "priority: 950", 1))
    page.click("#check")
    problem = page.locator(f"#line-{broken_line} .problem")
    expect(problem).to_contain_text("less than or equal to 100")
    expect(page.locator("#rules-lines .problem")).to_have_count(1)
    shot(page, screenshots, "06-rules-error", full_page=False)
    page.evaluate(f"document.getElementById('line-{broken_line - 8}').scrollIntoView()")
    shot(page, screenshots, "06-rules-error-on-its-line", full_page=False)

    # ── fix it, change where fraud goes, try a sentence, dry run ───────────────────────────────────────────
    draft = text.replace("target: fraudeteam", "target: klachten", 1)
    page.fill("#rules-text", draft)
    page.click("#check")
    expect(page.locator("#message")).to_have_text("The draft is valid.")
    page.fill("#sentence", "ik ben opgelicht er is geld van mijn rekening gehaald")
    page.click("#try")
    expect(page.locator("#tried-action")).to_contain_text("fraude → klachten")
    page.click("#dry-run")
    expect(page.locator("#dry-summary")).to_contain_text("1 would end differently")
    changed = page.locator(f'#dry-run-changes tr[data-call="{fraud_sid}"]')
    expect(changed).to_contain_text("fraude → fraudeteam")
    expect(changed).to_contain_text("fraude → klachten")
    expect(page.locator(f'#dry-run-changes tr[data-call="{live_sid}"]')).to_have_count(0)
    shot(page, screenshots, "07-rules-dry-run")

    # ── publish: the file changes and the server's rules reload ────────────────────────────────────────────
    page.fill("input[name=note]", "fraud goes to the complaints team for now")
    page.click("#publish")
    expect(page.locator("#diff .diff-added")).to_contain_text("target: klachten")  # what changes, before it does
    page.click("#confirm-publish")
    expect(page.locator("#message")).to_contain_text("published and active")
    published = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    assert next(r for r in published["rules"] if r["name"] == "fraude")["target"] == "klachten"
    shot(page, screenshots, "08-rules-published")

    # ── history with a diff, and one-click rollback ────────────────────────────────────────────────────────
    page.goto(f"{base}/admin/rules/history")
    expect(page.locator("#diff .diff-added")).to_contain_text("target: klachten")
    expect(page.locator("#diff .diff-removed")).to_contain_text("target: fraudeteam")
    shot(page, screenshots, "09-rules-history")
    previous = page.locator("#versions tr:not(.active) a.button").first
    previous.click()
    expect(page.locator("#diff")).to_be_visible()  # asked first, with what would change
    assert rules_file.read_text(encoding="utf-8") != original_rules
    shot(page, screenshots, "10-rules-rollback-confirm")
    page.locator("#confirm-rollback").click()
    expect(page.locator("#message")).to_contain_text("Rolled back")
    assert rules_file.read_text(encoding="utf-8") == original_rules
    expect(page.locator("#versions tr.active")).to_contain_text("rollback")
    shot(page, screenshots, "10b-rules-rolled-back")

    # ── dashboard and the feedback loop ────────────────────────────────────────────────────────────────────
    page.goto(f"{base}/admin/dashboard")
    expect(page.locator("svg.chart")).to_have_count(4)
    # the live call was served by Warmline; the fraud call and the declined-then-accepted one went to people
    expect(page.locator("#share-without-person")).to_contain_text("33% (1 of 3)")
    expect(page.locator("#abandoned-waiting")).to_contain_text("hung up waiting for a person: 0")
    shot(page, screenshots, "11-dashboard")
    page.goto(f"{base}/admin/missed")
    missed = page.locator('#missed tr[data-key="ik zoek mijn kat"]')
    expect(missed).to_contain_text("ik zoek mijn kat")
    shot(page, screenshots, "12-missed")
    expect(missed.locator("select[name=intent]")).to_have_value("")  # nothing chosen for the supervisor
    missed.locator("select[name=intent]").select_option("complaint")
    missed.get_by_role("button", name="Preview…").click()
    expect(page.locator("#preview-summary")).to_contain_text("would end differently")
    expect(page.locator("#dry-run-changes tbody tr")).not_to_have_count(0)  # the stored call now goes to a person
    shot(page, screenshots, "13-missed-preview")
    page.locator("#teach").click()
    expect(page.locator("#message")).to_contain_text("complaint")
    expect(page.locator('#missed tr[data-key="ik zoek mijn kat"]')).to_have_count(0)
    intents_file = console_server.settings.grammars_dir / "nl" / "intents.yaml"
    intents = yaml.safe_load(intents_file.read_text("utf-8"))
    assert "ik zoek mijn kat" in intents["intents"]["complaint"]["examples"]
    page.locator("#teachings tr").filter(has_text="ik zoek mijn kat").get_by_role("button", name="Undo").click()
    expect(page.locator("#message")).to_contain_text("Lesson undone")
    expect(page.locator('#missed tr[data-key="ik zoek mijn kat"]')).to_have_count(1)
    intents = yaml.safe_load(intents_file.read_text("utf-8"))
    assert "ik zoek mijn kat" not in intents["intents"]["complaint"]["examples"]
    shot(page, screenshots, "14-missed-undone")

    # ── every change is in the audit log ───────────────────────────────────────────────────────────────────
    page.goto(f"{base}/admin/audit")
    audit = page.locator("#audit tbody")
    for action in ("rules.publish", "rules.rollback", "grammar.add_example", "grammar.undo_example"):
        expect(audit).to_contain_text(action)
    shot(page, screenshots, "15-audit")
