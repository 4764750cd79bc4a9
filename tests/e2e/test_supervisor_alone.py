"""A supervisor runs the line alone, on a desktop (1280 px) and on a phone (390 px): changes a rule with the rule
cards only (no YAML typed), dry-runs, reviews the diff, publishes, rolls back; teaches a missed utterance, sees what
it changes, undoes it. Every page fits the screen (no sideways scrolling) and axe-core finds no serious or critical
accessibility problem. Screenshots of every step: test-artifacts/screenshots/<width>-*.png.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import TwilioSimulator
from ivr.store.repository import Store
from tests.e2e.conftest import SPEED, ConsoleServer

AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
FRAUD = "help er is geld van mijn rekening gehaald ik denk dat ik opgelicht ben"
VIEWPORTS = [(1280, 800), (390, 844)]
PAGES = [
    "/admin/live",
    "/admin/calls",
    "/admin/rules/cards",
    "/admin/rules",
    "/admin/rules/history",
    "/admin/dashboard",
    "/admin/missed",
    "/admin/audit",
]


@pytest.fixture(scope="module")
def stored_calls(console_server: ConsoleServer) -> dict[str, str]:
    """Two finished calls: one for the fraud team (the dry run's material), one with a missed utterance."""
    store = Store.open(console_server.settings.resolved_database_url)
    try:
        store.add_user("sanne", PASSWORD, "supervisor")
    finally:
        store.close()
    sids = {}
    for name, texts in (("fraud", [FRAUD]), ("missed", ["mijn kat is weggelopen", "medewerker"])):
        simulator = TwilioSimulator(console_server.base_url, console_server.settings.auth_token, speed=SPEED)
        sid = simulator.new_call_sid()
        console_server.recognizers.script(sid, texts)
        turns = [text_turn(t, "nl") for t in texts]
        with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
            pool.submit(asyncio.run, simulator.call(turns, call_sid=sid)).result(timeout=90)
        sids[name] = sid
    return sids


def _fits(page: Page) -> None:
    """Nothing needs sideways scrolling."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the screen"


def _axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))")
    violations: list[dict[str, Any]] = json.loads(result)["violations"]
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def _check(page: Page, shots: Path, width: int, name: str) -> None:
    _fits(page)
    bad = _axe(page)
    assert not bad, f"{page.url}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad)
    page.screenshot(path=str(shots / f"{width}-{name}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_a_supervisor_changes_rules_with_cards_and_teaches_a_wording_on_any_screen(
    console_server: ConsoleServer,
    browser: Browser,
    stored_calls: dict[str, str],
    screenshots: Path,
    width: int,
    height: int,
) -> None:
    if not AXE.is_file():
        pytest.fail(f"{AXE} missing: scripts/test.sh installs axe-core from npm")
    base = console_server.base_url
    rules_file = console_server.settings.rules_file
    original = rules_file.read_text(encoding="utf-8")
    # bypass_csp only so that axe-core can be injected; the pages' own CSP is tested elsewhere
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{base}/admin/login")
        page.get_by_label("User name").fill("sanne")
        page.get_by_label("Password").fill(PASSWORD)
        _check(page, screenshots, width, "01-login")
        page.get_by_role("button", name="Log in").click()
        for index, path in enumerate(PAGES, start=2):
            page.goto(f"{base}{path}")
            _check(page, screenshots, width, f"{index:02d}-{path.strip('/').replace('/', '-')}")

        # ── the fraud rule goes to the complaints team: cards only, no YAML typed ───────────────────────────
        page.goto(f"{base}/admin/rules/cards")
        card = page.locator('fieldset.card[data-rule="fraude"]')
        card.get_by_label("Then transfer to").select_option("klachten")
        page.locator("#dry-run-cards").click()
        expect(page.locator("#dry-summary")).to_contain_text("would end differently")
        changed = page.locator(f'#dry-run-changes tr[data-call="{stored_calls["fraud"]}"]')
        expect(changed).to_contain_text("fraude → klachten")
        _check(page, screenshots, width, "20-cards-dry-run")
        page.locator("#review-cards").click()
        expect(page.locator("#diff .diff-added")).to_have_text(["+     target: klachten"])  # only the real edit
        _check(page, screenshots, width, "21-cards-review")
        page.get_by_label("What changed (for the history)").fill("fraude naar klachten")
        page.locator("#confirm-publish").click()
        expect(page.locator("#message")).to_contain_text("published and active")
        published = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
        assert next(r for r in published["rules"] if r["name"] == "fraude")["target"] == "klachten"
        assert rules_file.read_text(encoding="utf-8").split("\nrules:")[0] == original.split("\nrules:")[0]
        _check(page, screenshots, width, "22-cards-published")

        # ── roll it back, after seeing what that changes ─────────────────────────────────────────────────────
        page.goto(f"{base}/admin/rules/history")
        page.locator("#versions tr:not(.active) a.button").first.click()
        expect(page.locator("#diff")).to_be_visible()
        _check(page, screenshots, width, "23-rollback-confirm")
        page.locator("#confirm-rollback").click()
        expect(page.locator("#message")).to_contain_text("Rolled back")
        assert yaml.safe_load(rules_file.read_text(encoding="utf-8")) == yaml.safe_load(original)

        # ── teach a missed utterance, see its effect, undo it ────────────────────────────────────────────────
        page.goto(f"{base}/admin/missed")
        row = page.locator('#missed tr[data-key="mijn kat is weggelopen"]')
        expect(row).to_be_visible()
        row.get_by_label("What the caller meant").select_option("complaint")
        row.get_by_role("button", name="Preview…").click()
        expect(page.locator("#preview-summary")).to_contain_text("would end differently")
        _check(page, screenshots, width, "24-missed-preview")
        page.locator("#teach").click()
        expect(page.locator("#message")).to_contain_text("complaint")
        _check(page, screenshots, width, "25-missed-taught")
        page.locator("#teachings tr").filter(has_text="mijn kat is weggelopen").get_by_role(
            "button", name="Undo"
        ).click()
        expect(page.locator("#message")).to_contain_text("Lesson undone")
        expect(page.locator('#missed tr[data-key="mijn kat is weggelopen"]')).to_have_count(1)
    finally:
        context.close()
