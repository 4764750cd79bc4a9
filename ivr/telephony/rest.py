"""The Twilio REST calls Warmline places itself: ringing a colleague for a warm transfer, and cancelling that ring.

Everything goes through the Twilio SDK (``twilio.rest.Client``); only the address it talks to may be changed
(``IVR_TWILIO_API_URL``), so the simulator can stand in for Twilio's cloud in tests and the demo. The SDK is
synchronous (``requests``): each call runs on a worker thread so the event loop keeps serving media streams.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.config import Settings

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
#: a REST request that takes longer than this fails (and the transfer goes on to its next step)
REQUEST_TIMEOUT_S = 10.0


class ApiUnavailable(Exception):
    """Twilio's API refused or did not answer; the message says what it said."""


class _ApiAt(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's own HTTP client, sending what it would send to api.twilio.com to ``base`` instead."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=REQUEST_TIMEOUT_S)
        self._base = base.rstrip("/")

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API) :]
        response: Response = super().request(method, url, *args, **kwargs)
        return response


class TwilioCalls:
    """Place and cancel the colleague's call leg of a warm transfer."""

    def __init__(self, settings: Settings) -> None:
        http = None if settings.twilio_api_url.rstrip("/") == TWILIO_API else _ApiAt(settings.twilio_api_url)
        self._client = Client(settings.twilio_account_sid, settings.auth_token, http_client=http)
        self._caller_id = settings.transfer_caller_id

    async def ring(self, *, to: str, line_number: str, url: str, status_callback: str, ring_s: int) -> str:
        """Ring ``to`` (E.164 or a SIP URI); when answered Twilio asks ``url`` (with ``AnsweredBy``: voicemail and
        other machines are told apart from people) and it reports the end at ``status_callback``. Returns the new
        call's SID."""
        caller_id = self._caller_id or line_number

        def create() -> str:
            call = self._client.calls.create(
                to=to,
                from_=caller_id,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=["completed"],
                timeout=ring_s,
                machine_detection="Enable",
            )
            return str(call.sid)

        try:
            return await asyncio.to_thread(create)
        except (TwilioException, OSError) as exc:
            raise ApiUnavailable(f"Twilio did not place the call to the colleague: {exc}") from exc

    async def hang_up(self, call_sid: str, *, ringing: bool) -> None:
        """End the colleague's leg: cancel it while it rings, complete it once answered. Failures are logged."""
        status: Literal["canceled", "completed"] = "canceled" if ringing else "completed"

        def update() -> None:
            self._client.calls(call_sid).update(status=status)

        try:
            await asyncio.to_thread(update)
        except (TwilioException, OSError) as exc:
            log.warning("could not end the colleague's call %s (%s): %s", call_sid, status, exc)

    async def delete_queue(self, queue_sid: str) -> None:
        """Remove a transfer's own queue once its caller left it: Twilio keeps queues until deleted, and an account
        may only have so many. Failures are logged (the queue is empty either way)."""

        def delete() -> None:
            self._client.queues(queue_sid).delete()

        try:
            await asyncio.to_thread(delete)
        except (TwilioException, OSError) as exc:
            log.warning("could not delete the transfer queue %s: %s", queue_sid, exc)
