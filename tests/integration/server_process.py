"""A Warmline server in its own process (``python -m uvicorn app:app``), as a deployment runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ivr.call.record import CallRecord
from ivr.config import REPO_ROOT
from ivr.simulator.local import free_port
from ivr.telephony.security import SignatureChecker

AUTH_TOKEN = "store-crash-test-token"
SPEED = 4.0


def server_env(data_dir: Path, port: int, model: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "IVR_DATA_DIR": str(data_dir),
        "IVR_AUDIO_CACHE_DIR": str(data_dir / "cache"),
        "IVR_VOSK_MODEL": str(model),
        "IVR_WARM_RECOGNIZERS": "0",  # keypad turns only: no speech to decode
        "IVR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IVR_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_PLAYBACK_SPEED": str(SPEED),
        "IVR_LANGUAGE": "nl",
        "IVR_NO_INPUT_TIMEOUT_S": "60",
        **(extra or {}),
    }


UVICORN = [
    sys.executable,
    "-m",
    "uvicorn",
    "app:app",
    "--ws-per-message-deflate",
    "false",
    "--host",
    "127.0.0.1",
    "--port",
]
#: the installed ``ivr`` command of this environment
IVR = str(Path(sys.executable).with_name("ivr"))


@contextlib.contextmanager
def server_process(
    data_dir: Path,
    model: Path,
    command: list[str] = UVICORN,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m uvicorn app:app`` (or ``command`` + port) in its own process, as a deployment runs it."""
    port = free_port()
    log = (data_dir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [*command, str(port)],
        cwd=cwd,
        env=server_env(data_dir, port, model, env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}: {tail_of(data_dir / f'server-{port}.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start: {tail_of(data_dir / f'server-{port}.log')}")
            time.sleep(0.1)
        yield process, base_url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def tail_of(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def live_record(base_url: str, call_sid: str) -> CallRecord | None:
    """What the server holds in memory for the call right now (the signed call-log endpoint)."""
    url = f"{base_url}/twilio/calls/{call_sid}"
    response = httpx.get(url, headers={"X-Twilio-Signature": SignatureChecker(AUTH_TOKEN).sign(url, {})}, timeout=5)
    return CallRecord.model_validate(response.json()) if response.status_code == 200 else None


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` (in a thread: it may do blocking I/O) until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")
