"""Mask personal data in transcripts before a colleague sees them or we store them.

The agent page and the TaskRouter task carry the caller's words so nobody has to repeat their story, but not their
bank account, BSN, card or phone number: those are masked with a label ("[IBAN]") so the agent still knows the caller
*gave* one. Order numbers of 4–6 digits stay, because agents need them.

Where a checksum exists (IBAN mod-97, card Luhn, BSN 11-proof) it decides the label, not the mask: a look-alike
that fails the checksum is still a long number and is masked as ``[NUMBER]`` — a mistyped account number is as
personal as a correct one.

Recognisers write numbers as words ("nul zes een twee …"), so runs of spoken digits are read like written ones. The
function takes no language: a transcript may mix Dutch and English, and masking must never fail on a missing file,
so the handful of digit words it needs live here rather than in the grammars.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

IBAN = "[IBAN]"
BSN = "[BSN]"
CARD = "[CARD]"
PHONE = "[PHONE]"
EMAIL = "[EMAIL]"
NUMBER = "[NUMBER]"

#: Runs of at least this many digits are never shown; shorter ones (order numbers, years, amounts) stay.
MIN_MASKED_DIGITS = 7

# ── e-mail ────────────────────────────────────────────────────────────────────────────────────────────────
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Said aloud: "jan apenstaartje gmail punt com", "jan at gmail dot com". A "dot" after the domain is required, so an
# ordinary "at" ("I was at home") is left alone.
_SPOKEN_AT = r"(?:apenstaartje|apestaartje|apenstaart|at|et)"
_SPOKEN_DOT = r"(?:punt|dot)"
_SPOKEN_EMAIL = re.compile(
    rf"\b\w+(?:\s+{_SPOKEN_DOT}\s+\w+)*\s+{_SPOKEN_AT}\s+\w+(?:\s+{_SPOKEN_DOT}\s+\w+)+\b", re.IGNORECASE
)

# ── IBAN ──────────────────────────────────────────────────────────────────────────────────────────────────
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")
_IBAN_MIN, _IBAN_MAX = 15, 34
#: Lengths of the IBANs our callers most often have; other countries are tried longest first.
_IBAN_LENGTHS = {"NL": 18, "BE": 16, "DE": 22, "FR": 27, "GB": 22, "LU": 20, "ES": 24, "IT": 27, "AT": 20, "CH": 21}

# ── spoken digits (nl + en, as the recognisers write them) ────────────────────────────────────────────────
_DIGIT_WORDS = {
    **dict.fromkeys(["nul", "zero", "nought", "nil"], "0"),
    **dict.fromkeys(["een", "one"], "1"),
    **dict.fromkeys(["twee", "two"], "2"),
    **dict.fromkeys(["drie", "three"], "3"),
    **dict.fromkeys(["vier", "four"], "4"),
    **dict.fromkeys(["vijf", "five"], "5"),
    **dict.fromkeys(["zes", "six"], "6"),
    **dict.fromkeys(["zeven", "seven"], "7"),
    **dict.fromkeys(["acht", "eight"], "8"),
    **dict.fromkeys(["negen", "nine"], "9"),
}
#: "oh" is a zero inside a number ("four oh five") but a sigh in front of one.
_INSIDE_ONLY = {"oh": "0", "o": "0"}
_REPEATERS = {"double": 2, "triple": 3}
_HESITATIONS = frozenset({"euh", "eh", "ehm", "uhm", "uh", "um", "umm", "er", "erm", "hm", "hmm"})
_TOKEN = re.compile(r"\+|[^\W_]+")
#: What may separate the parts of one number: "06-1234 5678", "(020) 123.45.67". Not commas: "4512, 4513" are two.
_JOINER = re.compile(r"[ \t\-./()]*")


#: The kinds of personal data a deployment may choose to mask (``IVR_REDACT``), by the label that replaces them.
KINDS: dict[str, str] = {"iban": IBAN, "bsn": BSN, "card": CARD, "phone": PHONE, "email": EMAIL, "number": NUMBER}


def redact(text: str, kinds: Collection[str] | None = None) -> str:
    """``text`` with IBANs, e-mail addresses, phone, card and BSN numbers and other long numbers masked.

    ``kinds`` (names from :data:`KINDS`) limits what is masked, for deployments that must keep e.g. order-like
    numbers; None masks everything. Idempotent: masking a masked text changes nothing, so layers may redact again.
    """
    labels = frozenset(KINDS.values()) if kinds is None else frozenset(KINDS[kind] for kind in kinds)
    if EMAIL in labels:
        text = _EMAIL.sub(EMAIL, text)
        text = _SPOKEN_EMAIL.sub(EMAIL, text)
    if IBAN in labels:
        text = _mask_ibans(text)
    return _mask_numbers(text, labels)


# ── checksums ─────────────────────────────────────────────────────────────────────────────────────────────
def is_valid_iban(candidate: str) -> bool:
    """ISO 13616 mod-97: move the first four characters to the end, letters to numbers, remainder must be 1."""
    compact = candidate.replace(" ", "").upper()
    if not (_IBAN_MIN <= len(compact) <= _IBAN_MAX) or not compact.isascii() or not compact.isalnum():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def passes_luhn(digits: str) -> bool:
    """The card-number checksum: double every second digit from the right, the sum must end in 0."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def passes_eleven_proof(digits: str) -> bool:
    """The BSN 11-proof: 9×d1 + 8×d2 + … + 2×d8 − 1×d9 is a multiple of 11 (and not all zeros)."""
    if len(digits) != 9 or not digits.isdigit() or set(digits) == {"0"}:
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11 == 0


def _number_label(digits: str, international: bool) -> str | None:
    """The mask for a run of digits, or None when it may stay (fewer than 7 digits)."""
    if len(digits) < MIN_MASKED_DIGITS:
        return None
    if international and 8 <= len(digits) <= 15:
        return PHONE
    if digits.startswith("00") and 11 <= len(digits) <= 15:
        return PHONE  # 0031 6 …: the international prefix dialled from a phone
    if len(digits) == 10 and digits[0] == "0":
        return PHONE  # 06-…, 020-…, 0800-…: every Dutch national number has ten digits
    if 13 <= len(digits) <= 19 and passes_luhn(digits):
        return CARD
    if passes_eleven_proof(digits):
        return BSN
    return NUMBER


# ── IBAN scanning ─────────────────────────────────────────────────────────────────────────────────────────
def _mask_ibans(text: str) -> str:
    """Replace every valid IBAN, written solid ("NL91ABNA0417164300") or in groups ("NL91 ABNA 0417 …")."""
    out: list[str] = []
    position = 0
    for start in _IBAN_START.finditer(text):
        if start.start() < position:
            continue
        end = _iban_end(text, start.start())
        if end is not None:
            out.append(text[position : start.start()])
            out.append(IBAN)
            position = end
    out.append(text[position:])
    return "".join(out)


def _iban_end(text: str, start: int) -> int | None:
    """Where the valid IBAN starting at ``start`` ends, or None.

    Grouped IBANs are followed by ordinary words, so "the longest alphanumeric stretch" overshoots; instead every
    place the stretch could end is tried, the country's known length first.
    """
    compact = ""
    ends: dict[int, int] = {}  # compact length → index in text just after that character
    i = start
    while i < len(text) and len(compact) < _IBAN_MAX:
        char = text[i]
        if char.isascii() and char.isalnum():
            compact += char.upper()
            ends[len(compact)] = i + 1
            i += 1
        elif char == " " and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum() and compact:
            i += 1
        else:
            break
    known = _IBAN_LENGTHS.get(compact[:2])
    lengths = [known] if known is not None else sorted(ends, reverse=True)
    for length in lengths:
        if length < _IBAN_MIN or length not in ends:
            continue
        end = ends[length]
        boundary = end == len(text) or not (text[end].isascii() and text[end].isalnum())
        if boundary and is_valid_iban(compact[:length]):
            return end
    return None


# ── numbers, written and spoken ───────────────────────────────────────────────────────────────────────────
@dataclass
class _Run:
    """A number being read: where it starts and ends in the text, and its digits so far."""

    start: int
    end: int = 0
    digits: str = ""
    international: bool = False
    repeat: int = 1


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _mask_numbers(text: str, labels: frozenset[str]) -> str:
    replacements: list[tuple[int, int, str]] = []
    run: _Run | None = None
    previous_end = 0

    def close() -> None:
        nonlocal run
        if run is not None and run.digits:
            label = _number_label(run.digits, run.international)
            if label is not None and label in labels:
                start = run.start - 1 if run.start > 0 and text[run.start - 1] == "(" else run.start
                replacements.append((start, run.end, label))
        run = None

    for match in _TOKEN.finditer(text):
        token = match.group()
        word = _fold(token)
        joined = run is not None and _JOINER.fullmatch(text, previous_end, match.start()) is not None
        if not joined:
            close()
        previous_end = match.end()
        if token == "+":
            close()
            run = _Run(start=match.start(), international=True)
            continue
        digits = _digits_of(word, inside=run is not None and bool(run.digits))
        if digits is not None:
            if run is None:
                run = _Run(start=match.start())
            run.digits += digits * run.repeat
            run.repeat = 1
            run.end = match.end()
        elif word in _REPEATERS:
            if run is None:
                run = _Run(start=match.start())
            run.repeat = _REPEATERS[word]
        elif word in _HESITATIONS and run is not None and run.digits:
            continue  # "vier vijf euh een twee" is one number
        else:
            close()
            if NUMBER in labels and sum(ch.isdigit() for ch in token) >= MIN_MASKED_DIGITS:
                replacements.append((match.start(), match.end(), NUMBER))  # "ABNA0417164300": a code with a number
    close()

    out: list[str] = []
    position = 0
    for start, end, label in replacements:
        out.append(text[position:start])
        out.append(label)
        position = end
    out.append(text[position:])
    return "".join(out)


def _digits_of(word: str, *, inside: bool) -> str | None:
    """The digits a token stands for: "4512" → "4512", "vier" → "4", "oh" → "0" inside a number only."""
    if word.isascii() and word.isdigit():
        return word
    if word in _DIGIT_WORDS:
        return _DIGIT_WORDS[word]
    if inside and word in _INSIDE_ONLY:
        return _INSIDE_ONLY[word]
    return None
