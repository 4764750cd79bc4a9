"""The dialog's vocabulary: what the caller did (inputs) and what Warmline does next (actions).

The dialog engine is a pure function ``(state, input) → (state, actions)``; the call session carries the actions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ivr.speech.types import Transcript

GrammarName = Literal["free", "digits", "yes_no"]


# ── inputs ────────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class CallStarted:
    """The call has connected; the engine answers with the greeting. ``offer_order``: a returning caller (caller
    memory) who recently called about this order is asked whether that is why they call again; ``offer_when``
    says when ("gisteren")."""

    offer_order: str | None = None
    offer_when: str = ""


@dataclass(frozen=True, slots=True)
class Utterance:
    """The caller said something (already recognised)."""

    transcript: Transcript


@dataclass(frozen=True, slots=True)
class KeyPress:
    """Keypad digits (DTMF), one or more, e.g. '0' or an order number ending in '#'."""

    digits: str


@dataclass(frozen=True, slots=True)
class NoInput:
    """The caller stayed silent after a prompt for the configured time."""


@dataclass(frozen=True, slots=True)
class Resumed:
    """The call's media stream was lost (its server died or drained) and a new one opened: pick up where the
    dialog was — same step, same failure count — after one short apology, instead of greeting anew. ``back``:
    nobody could take a transfer and the caller chose to go on with Warmline (they hear that, not an apology)."""

    back: bool = False


CallerInput = CallStarted | Utterance | KeyPress | NoInput | Resumed


# ── actions ───────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Say:
    """Speak a prompt. ``key`` names it in grammars/<lang>/prompts.yaml (for logs and marks); ``text`` is final."""

    key: str
    text: str
    #: False for prompts the caller must hear to the end (e.g. the transfer announcement)
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait for the caller; ``grammar`` narrows recognition (digits, yes/no) where the dialog expects it."""

    grammar: GrammarName = "free"


TransferReason = Literal["caller_request", "keypad_zero", "repeated_failure", "needs_person", "low_confidence"]


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to a person. ``reason`` is machine-readable; ``detail`` is plain words for the agent."""

    reason: TransferReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call politely (after the goodbye prompt has been said)."""


Action = Say | Listen | Transfer | Hangup
