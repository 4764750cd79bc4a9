"""Who may talk to us: Twilio's request signatures and our short-lived media-stream tokens.

Signatures are checked against the *public* URL from settings, because behind a proxy the URL the app sees is not
the one Twilio signed. The stream token binds the WebSocket to the CallSid whose webhook we answered, so a stranger who
guesses the stream URL cannot open a call session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping

from twilio.request_validator import RequestValidator

from ivr.errors import StreamTokenError

log = logging.getLogger(__name__)


class SignatureChecker:
    """Validates ``X-Twilio-Signature`` with the Twilio SDK (never by hand)."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def is_valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(url, dict(params), signature))

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """What Twilio would send; used by our simulator and tests."""
        return str(self._validator.compute_signature(url, dict(params)))


class StreamTokens:
    """HMAC tokens ``<expiry>.<mac>`` bound to one CallSid, handed to Twilio in a ``<Parameter>``."""

    def __init__(self, secret: str, ttl_s: int, spend: Callable[[str, int], bool] | None = None) -> None:
        self._key = hashlib.sha256(b"warmline-stream-token:" + secret.encode()).digest()
        self._ttl = ttl_s
        self._used: dict[str, int] = {}  # token → its expiry: a token opens one stream, once
        self._lock = threading.Lock()
        #: shared live state: ``spend(token, expiry)`` is True the first time any instance spends the token
        self._spend = spend

    def _mac(self, call_sid: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{call_sid}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, call_sid: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self._ttl)
        return f"{expires}.{self._mac(call_sid, expires)}"

    def verify(self, token: str | None, call_sid: str, now: float | None = None) -> None:
        """Raise StreamTokenError unless the token is ours, unexpired and bound to ``call_sid``."""
        if not token or "." not in token:
            raise StreamTokenError("missing or malformed stream token")
        expires_text, mac = token.split(".", 1)
        if not expires_text.isdigit():
            raise StreamTokenError("malformed stream token")
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(call_sid, expires)):
            raise StreamTokenError("stream token does not match this call")
        moment = now if now is not None else time.time()
        if moment > expires:
            raise StreamTokenError("stream token expired")

    def redeem(self, token: str | None, call_sid: str, now: float | None = None) -> None:
        """Verify, then spend the token: a replayed or leaked token opens no second stream."""
        self.verify(token, call_sid, now)
        assert token is not None
        moment = int(now if now is not None else time.time())
        if self._spend is not None:
            if not self._spend(token, int(token.split(".", 1)[0])):
                raise StreamTokenError("stream token already used")
            return
        with self._lock:
            if token in self._used:
                raise StreamTokenError("stream token already used")
            for spent in [t for t, expiry in self._used.items() if expiry < moment]:
                del self._used[spent]  # expired tokens are refused by verify anyway: forget them
            self._used[token] = int(token.split(".", 1)[0])
