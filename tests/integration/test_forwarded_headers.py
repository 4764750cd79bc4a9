"""The console's login throttle counts per client address, so only configured proxies may say who the client is."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.store.repository import Store
from tests.integration.console_helpers import console_settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _guesses(base: str, forwarded: list[str]) -> list[int]:
    """Wrong passwords for one user, each claiming another client address; the status codes."""
    codes = []
    async with httpx.AsyncClient(base_url=base) as client:
        for address in forwarded:
            form = await client.get("/admin/login")
            match = _CSRF.search(form.text)
            assert match is not None
            data = {"username": "sanne", "password": "wrong-wrong", "csrf_token": match.group(1)}
            response = await client.post("/admin/login", data=data, headers={"X-Forwarded-For": address})
            codes.append(response.status_code)
    return codes


@pytest.mark.parametrize(("trusted", "throttled"), [("", True), ("127.0.0.1", False)])
async def test_a_rotating_x_forwarded_for_only_counts_when_the_peer_is_a_trusted_proxy(
    tmp_path: Path, trusted: str, throttled: bool
) -> None:
    settings = console_settings(tmp_path, trusted_proxies=trusted)
    store = Store.open(settings.resolved_database_url)
    store.add_user("sanne", "supervisor-password-1", "supervisor")
    store.close()
    with local_server(settings, recognizers=ScriptedRecognizers()) as (base, _):
        codes = await _guesses(base, [f"203.0.113.{n}" for n in range(1, 8)])
    if throttled:
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], "a stranger's X-Forwarded-For is ignored"
    else:
        assert codes == [401] * 7, "behind a trusted proxy, every forwarded client is counted on its own"
