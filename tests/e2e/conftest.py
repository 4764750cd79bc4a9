"""Browser tests: a real Warmline on loopback, driven by the Debian Chromium through Playwright.

``playwright install`` cannot download browsers here (and CI has no internet either), so the system Chromium is
launched by path. A missing browser is an error, not a skip: scripts/install.sh installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ivr.config import REPO_ROOT, Settings
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from tests.integration.console_helpers import console_settings

CHROMIUM = os.environ.get("IVR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: where screenshots of every console page are kept for review (git-ignored)
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
#: the phone line runs faster than real time: same protocol and pacing logic, less waiting
SPEED = 2.0


@dataclass
class ConsoleServer:
    base_url: str
    settings: Settings
    recognizers: ScriptedRecognizers


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    tmp = tmp_path_factory.mktemp("console-e2e")
    settings = console_settings(tmp, playback_speed=SPEED, no_input_timeout_s=4.0, endpoint_silence_ms=600)
    recognizers = ScriptedRecognizers()
    with local_server(settings, recognizers=recognizers) as (url, running):
        yield ConsoleServer(url, running, recognizers)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: install the Debian package `chromium` (scripts/install.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
