"""Text helpers shared by the intent classifier and the dialog's phrase parsers.

Recognisers hand us lowercase words without punctuation, sometimes with accents (``één``) and sometimes
without, sometimes with ``[unk]`` for speech outside a grammar, and with the odd misheard letter. These
helpers fold all of that into one comparable form, so the classifier and the digit/yes-no parsers agree on
what a "word" is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

_UNK = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces.

    Accents are dropped because recognisers and people writing grammars disagree about them (``één``/``een``,
    ``geïnteresseerd``); apostrophes vanish so Flemish ``'k`` and ``k`` meet.
    """
    text = _UNK.sub(" ", text)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare.replace("'", "").replace("’", "")).strip()


def tokenize(text: str) -> tuple[str, ...]:
    """The folded words of ``text``."""
    return tuple(fold(text).split())


def split_on_unknown(text: str) -> list[str]:
    """The stretches of ``text`` between out-of-grammar markers.

    A number must not be glued together across a word the recogniser could not place:
    "vier vijf [unk] twee" is not 452.
    """
    return _UNK.split(text)


def has_unknown_marker(text: str) -> bool:
    """Whether a restricted-grammar recogniser marked out-of-grammar speech (the caller said *something*)."""
    return bool(_UNK.search(text))


def expand_aliases(tokens: Sequence[str], aliases: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Replace dialect or colloquial words by their standard form (``gij`` → ``je``, ``kheb`` → ``ik heb``).

    Done before anything else so keywords and examples only need to be written in one form.
    """
    out: list[str] = []
    for token in tokens:
        out.extend(aliases.get(token, (token,)))
    return tuple(out)


def remove_phrases(tokens: Sequence[str], phrases: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Drop every occurrence of the given (multi-)word phrases, longest first ("ja dus" before "ja")."""
    ordered = sorted({p for p in phrases if p}, key=len, reverse=True)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase in ordered:
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance between ``a`` and ``b``, or ``limit + 1`` as soon as it must exceed ``limit``.

    The early stop keeps fuzzy keyword matching cheap: almost every comparison is hopeless after a row or two.
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def char_ngrams(tokens: Iterable[str], sizes: Sequence[int] = (2, 3, 4, 5)) -> list[str]:
    """Character n-grams of each word padded with spaces, so word starts and ends are features of their own.

    Sub-word pieces are what make similarity survive misrecognitions (``bestelingk`` still shares ``bestel``)
    and Dutch compounds (``klantenservicemedewerker`` shares ``medewerker``).
    """
    grams: list[str] = []
    for token in tokens:
        padded = f" {token} "
        for n in sizes:
            if len(padded) < n:
                continue
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams
