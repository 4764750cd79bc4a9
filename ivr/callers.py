"""Caller memory: a caller who calls again is recognised, without their number ever being kept.

Three in four callers expect service "based on earlier interactions", and the fourth call about the same broken order
must not be treated like the first. A caller is known by a *keyed hash* of their number — HMAC-SHA256 with a key
derived from the deployment's secret (the Twilio auth token) and a purpose label — so the stored key cannot be turned
back into the number, and is useless to anyone without the secret. A withheld or malformed number gets no key: no
memory. What is remembered of each earlier call is what the calls table already holds (when, topic, order number,
how it ended), within the retention period; ``ivr forget`` erases one caller, ``IVR_CALLER_MEMORY=off`` switches it
all off.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

#: changing the label forgets every caller (their keys no longer match)
_KEY_LABEL = b"warmline-caller-memory-v1:"
#: Twilio's From for a withheld number, and what carriers send instead of one
_WITHHELD = frozenset({"", "anonymous", "restricted", "private", "unknown", "unavailable", "+266696687", "266696687"})
_NUMBER = re.compile(r"^\+?[0-9]{6,15}$")
#: how far back a caller's earlier calls are looked up (rules may look at fewer days)
HISTORY_DAYS = 30
#: at most this many earlier calls are kept in a live call's record
HISTORY_CALLS = 20


def normalise_number(number: str) -> str | None:
    """The number as one form (``+31612345678``), or None when it is withheld or not a phone number."""
    cleaned = re.sub(r"[\s().-]", "", number.strip())
    if cleaned.lower() in _WITHHELD or not _NUMBER.match(cleaned):
        return None
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    return cleaned if cleaned.startswith("+") else "+" + cleaned


def caller_key(number: str, secret: str) -> str | None:
    """The keyed hash a caller is recognised by, or None for a withheld number."""
    normalised = normalise_number(number)
    if normalised is None:
        return None
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class PreviousCall:
    """One earlier call of the same caller, as much as Warmline needs of it."""

    started: float  # Unix time
    intent: str | None = None
    order_number: str | None = None
    #: "hangup" (served or left), "transfer", or "" when it never ended properly
    outcome: str = ""
    target_name: str = ""
    #: what the transfer came to: bridged, unreachable, abandoned, back-to-bot … ("" without a transfer)
    transfer_status: str = ""
    callback: bool = False

    @property
    def resolved(self) -> bool:
        """As far as Warmline can tell: a person took the call, or it was served without one."""
        return self.outcome == "hangup" or self.transfer_status in ("bridged", "accepted", "answered")


def within(history: tuple[PreviousCall, ...], days: float, now: float) -> tuple[PreviousCall, ...]:
    return tuple(call for call in history if now - call.started <= days * 86400)


def same_topic(previous: PreviousCall, intent: str | None, order_number: str | None) -> bool:
    """Whether an earlier call was about the same thing: the same order, or the same (known) topic."""
    if order_number and previous.order_number == order_number:
        return True
    return bool(intent) and intent not in ("unknown", "agent_request") and previous.intent == intent


#: an earlier call about an order within this many days is offered in the greeting
OFFER_DAYS = 7


def order_to_offer(history: tuple[PreviousCall, ...], now: float) -> PreviousCall | None:
    """The recent earlier call about an order that a returning caller is asked about first, if any."""
    return next((call for call in within(history, OFFER_DAYS, now) if call.order_number), None)


def when_key(earlier: float, now: float, zone: ZoneInfo) -> str:
    """Which prompt says when the earlier call was: ``previous_today``, ``previous_yesterday`` or
    ``previous_this_week`` (the words live in the grammars)."""
    days = (datetime.fromtimestamp(now, zone).date() - datetime.fromtimestamp(earlier, zone).date()).days
    return "previous_today" if days <= 0 else "previous_yesterday" if days == 1 else "previous_this_week"
