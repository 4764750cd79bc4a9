"""A real Warmline server on a loopback port, in a background thread of this process.

Used by the demo, text-turn simulations and tests: real HTTP and WebSockets through uvicorn, with the server's event
loop separate from the simulator's, as it would be across the network.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ivr.api import create_app
from ivr.config import Settings
from ivr.errors import IvrError
from ivr.speech.types import RecognizerFactory
from ivr.telephony.rest import TWILIO_API


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_api(settings: Settings) -> str | None:
    """Where a simulator should serve Twilio's REST API for a server run with ``settings``: only a stand-in address
    (loopback); never Twilio's own."""
    return None if settings.twilio_api_url.rstrip("/") == TWILIO_API else settings.twilio_api_url


@contextmanager
def local_server(
    settings: Settings, recognizers: RecognizerFactory | None = None, port: int | None = None
) -> Iterator[tuple[str, Settings]]:
    """Start Warmline on 127.0.0.1; yields (base URL, the settings it runs with — public URL set to it)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    update = {"public_url": base_url}
    if settings.twilio_api_url == TWILIO_API:
        # Colleagues are rung through the simulator's stand-in for Twilio's REST API, on loopback too.
        update["twilio_api_url"] = f"http://127.0.0.1:{free_port()}"
    settings = settings.model_copy(update=update)
    app = create_app(settings, recognizers=recognizers)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=None,
        ws_per_message_deflate=False,  # as ivr serve runs it
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"warmline-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise IvrError("the local Warmline server failed to start (see the log above)")
        if time.monotonic() > deadline:
            raise IvrError("the local Warmline server did not start within 60 s")
        time.sleep(0.02)
    try:
        yield base_url, settings
    finally:
        server.should_exit = True
        thread.join(timeout=15)
