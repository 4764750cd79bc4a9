"""A bounded storm of hostile frames against a real server process: it stays up, a caller on the line at the same
time hears no gap, and the memory the storm took is given back (issue 10's fuzz suite, end to end)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from pathlib import Path

import httpx
import pytest
import websockets

from ivr.simulator.turns import PressTurn, SilenceTurn
from ivr.simulator.twilio import TwilioSimulator
from tests.integration.server_process import AUTH_TOKEN, server_process

SOCKETS = 16
FRAMES_PER_SOCKET = 400
STORM_S = 20.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _hostile_frame(rng: random.Random, call_sid: str) -> str | bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 512)))
    if kind == 1:
        depth = rng.randrange(100, 5000)
        return "[" * depth + "]" * depth
    if kind == 2:
        return json.dumps({"event": "media", "media": {"payload": "A" * rng.randrange(20_000, 200_000)}})
    if kind == 3:
        noise = bytes(rng.randrange(256) for _ in range(160))
        return json.dumps({"event": "media", "media": {"payload": base64.b64encode(noise).decode()}})
    if kind == 4:
        return json.dumps({"event": rng.choice(["start", "dtmf", "mark", "stop", "clear"]), "x": rng.random()})
    if kind == 5:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 300)))
    if kind == 6:
        start = {"streamSid": "MZx", "callSid": call_sid, "customParameters": {"token": f"{rng.random()}.forged"}}
        return json.dumps({"event": "start", "start": start})
    return json.dumps({"event": "dtmf", "dtmf": {"digit": rng.choice("0123456789*#x")}})


async def _storm(simulator: TwilioSimulator, seed: int, deadline: float) -> None:
    rng = random.Random(seed)
    call_sid = simulator.new_call_sid()
    url, parameters = await simulator.answer(call_sid)
    with contextlib.suppress(websockets.ConnectionClosed, OSError):
        async with websockets.connect(url, additional_headers=simulator.handshake_headers(url), max_size=None) as ws:
            if rng.random() < 0.5:  # half of them get a real stream first, then garbage and floods inside it
                start = {"streamSid": "MZ1", "callSid": call_sid, "customParameters": parameters}
                await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
            for _ in range(FRAMES_PER_SOCKET):
                if time.monotonic() > deadline:
                    break
                await ws.send(_hostile_frame(rng, call_sid))
                if rng.random() < 0.05:
                    await asyncio.sleep(0.01)


@pytest.mark.slow
@pytest.mark.model
async def test_a_storm_of_hostile_frames_leaves_the_server_up_a_caller_unharmed_and_memory_returned(
    ko_model_path: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with server_process(data_dir, ko_model_path) as (process, base_url):
        simulator = TwilioSimulator(base_url, AUTH_TOKEN, speed=1.0, timeout_s=120)
        await simulator.call([PressTurn("0")])  # one call first: lazily built things exist before the baseline
        await asyncio.sleep(1)
        baseline = _rss_mb(process.pid)

        deadline = time.monotonic() + STORM_S
        control = asyncio.create_task(simulator.call([SilenceTurn(6.0), PressTurn("0")]))
        storms = [asyncio.create_task(_storm(simulator, seed, deadline)) for seed in range(SOCKETS)]
        await asyncio.gather(*storms)
        call = await control
        peak = _rss_mb(process.pid)

        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{base_url}/healthz")).json()["status"] == "ok"
        gaps = [e for e in call.timeline if e.kind == "underrun"]
        assert call.dial_target() is not None, "the control call reached a person as it asked"
        assert gaps == [] or call.max_clock_lag_s > 0.1, f"the caller heard {len(gaps)} gap(s)"
        await asyncio.sleep(3)
        after = _rss_mb(process.pid)
        print(f"RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB; gaps {len(gaps)}")
        assert after - baseline < 60, f"memory not returned: {baseline:.0f} → {after:.0f} MB"
