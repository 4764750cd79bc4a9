"""Signed, expiring links to the agent page of one transfer.

The page shows what the caller told us, so its URL must not be guessable or reusable forever: the link carries an
expiry and an HMAC over the transfer id and that expiry. The key is derived from the deployment secret (the Twilio
auth token) with a purpose label, so a signature made for links can never pass as a media-stream token or the other
way round, and rotating the auth token invalidates every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

#: Separates the purpose label from the secret when deriving the key; changing it invalidates all links.
_KEY_LABEL = b"warmline-agent-link-v1:"
#: The agent-assist fork's own purpose: a stream signature never opens the agent page, nor the other way round.
FORK_LABEL = b"warmline-assist-fork-v1:"
AGENT_PAGE_PATH = "/agent/transfers/"


def _key(secret: str, label: bytes) -> bytes:
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def _signature(transfer_id: str, expires: int, secret: str, label: bytes = _KEY_LABEL) -> str:
    # The expiry is all digits and comes last, so the last "/" splits the message unambiguously: no other
    # (id, expiry) pair signs the same bytes.
    message = f"{transfer_id}/{expires}".encode()
    digest = hmac.new(_key(secret, label), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_fork(transfer_id: str, secret: str, ttl_s: int, *, now: float | None = None) -> dict[str, str]:
    """The ``<Stream>`` parameters that let the agent-assist fork write into ``transfer_id``'s transcript:
    ``transfer``, ``exp`` and ``sig`` (a signature for this purpose only)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return {"transfer": transfer_id, "exp": str(expires), "sig": _signature(transfer_id, expires, secret, FORK_LABEL)}


def link_path(transfer_id: str) -> str:
    """The agent page's path for ``transfer_id`` (unsigned), e.g. ``/agent/transfers/abc``."""
    return AGENT_PAGE_PATH + quote(transfer_id, safe="")


def sign_link(base_url: str, transfer_id: str, secret: str, ttl_s: int, *, now: float | None = None) -> str:
    """The absolute agent-page URL for ``transfer_id``, valid for ``ttl_s`` seconds from ``now``.

    ``base_url`` is the public URL (``Settings.public_url``); a trailing slash is tolerated.
    """
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    if not transfer_id:
        raise ValueError("transfer_id must not be empty")
    expires = int((time.time() if now is None else now) + ttl_s)
    query = urlencode({"exp": expires, "sig": _signature(transfer_id, expires, secret)})
    return f"{base_url.rstrip('/')}{link_path(transfer_id)}?{query}"


def verify_link(
    transfer_id: str, exp: str | int, sig: str, secret: str, now: float | None = None, *, label: bytes = _KEY_LABEL
) -> bool:
    """Whether ``exp``/``sig`` (from the query string) were issued by us for ``transfer_id`` and have not expired.

    Never raises on garbage input: anything malformed is simply not valid. The signature is compared in constant
    time, and checked before the expiry so a probe learns nothing from which check failed first.
    """
    if isinstance(exp, int):
        expires = exp
    elif exp.isascii() and exp.isdigit() and len(exp) <= 12:
        expires = int(exp)
    else:
        return False
    if not transfer_id or not sig:
        return False
    expected = _signature(transfer_id, expires, secret, label).encode()
    if not hmac.compare_digest(expected, sig.encode("utf-8", "replace")):
        return False
    return (time.time() if now is None else now) <= expires


def verify_fork(parameters: dict[str, str], secret: str, now: float | None = None) -> str | None:
    """The transfer id a fork's ``start`` parameters were signed for (see :func:`sign_fork`), or None."""
    transfer_id = parameters.get("transfer", "")
    ok = verify_link(transfer_id, parameters.get("exp", ""), parameters.get("sig", ""), secret, now, label=FORK_LABEL)
    return transfer_id if ok else None
