"""How well Warmline understands this caller, as a running estimate over the call.

Dialect, a speech impairment or a poor line rarely shows in one turn; it shows as turn after turn of unsure
words, empty results and answers that match nothing. So the estimate is smoothed over turns, and it remembers
how many turns in a row it stayed low, which is what the supervisors' rules ask about ("below 0.45 for
2 turns").

The signal deliberately ignores *what* was said: a clearly heard "ik wil opzeggen" is well understood even if
the caller is upset. Distress is a separate signal.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.speech.types import Transcript

#: A word Vosk is less sure of than this counts as "unsure".
LOW_WORD_CONFIDENCE = 0.5
#: Level below which a turn counts towards ``turns_below`` (the sample rules use the same number).
UNCLEAR_LEVEL = 0.45
#: Weight of the newest turn in the running estimate: two bad turns pull a good start well below the
#: threshold, one bad turn after several good ones does not.
SMOOTHING = 0.5
#: A recognised turn that matched nothing the dialog expected keeps this share of its clarity. It is only a
#: hint: clearly heard speech that is simply out of scope should not look like dialect.
NO_MATCH_FACTOR = 0.6
#: How many past levels are kept so a rule can ask "below X for N turns" for its own X.
HISTORY_LENGTH = 8


@dataclass(frozen=True, slots=True)
class RecognitionEstimate:
    """The running estimate. ``level`` 1.0 = clearly understood, 0.0 = nothing understood.

    ``history`` holds the smoothed level after each recent turn (newest last), so rules with their own
    threshold can count consecutive turns below it without this module knowing the rules.
    """

    level: float = 1.0
    turns: int = 0
    turns_below: int = 0
    last_turn: float = 1.0
    history: tuple[float, ...] = ()
    reasons: tuple[str, ...] = ()

    def turns_below_level(self, threshold: float) -> int:
        """Consecutive most-recent turns whose smoothed level was below ``threshold``."""
        count = 0
        for level in reversed(self.history):
            if level >= threshold:
                break
            count += 1
        return count


def turn_clarity(transcript: Transcript, matched: bool) -> tuple[float, tuple[str, ...]]:
    """How clearly one turn was understood (0–1), with the reasons it is not 1.

    Half the score is the share of sure words and half the mean confidence: the share alone would treat 0.49
    and 0.01 alike, the mean alone hides a few badly heard key words among many sure fillers.
    """
    reasons: list[str] = []
    if transcript.is_empty:
        return 0.0, ("nothing recognised",)
    if transcript.words:
        unsure = sum(1 for w in transcript.words if w.confidence < LOW_WORD_CONFIDENCE)
        share_sure = 1.0 - unsure / len(transcript.words)
        clarity = 0.5 * share_sure + 0.5 * transcript.confidence
        if unsure:
            reasons.append(f"{unsure} of {len(transcript.words)} words unsure (< {LOW_WORD_CONFIDENCE:g})")
    else:
        # Text without word timings (DTMF mapped to text, scripted tests): no evidence either way.
        clarity = 1.0
    if not matched:
        clarity *= NO_MATCH_FACTOR
        reasons.append("answer matched nothing expected")
    return round(clarity, 3), tuple(reasons)


def update_recognition(prev: RecognitionEstimate, transcript: Transcript, matched: bool) -> RecognitionEstimate:
    """Fold one caller turn into the estimate. The first turn initialises it rather than being averaged with
    the optimistic default, so a caller who is hard to understand from the start is noticed on turn one."""
    clarity, turn_reasons = turn_clarity(transcript, matched)
    level = clarity if prev.turns == 0 else SMOOTHING * clarity + (1.0 - SMOOTHING) * prev.level
    level = round(min(1.0, max(0.0, level)), 3)
    turns_below = prev.turns_below + 1 if level < UNCLEAR_LEVEL else 0
    reasons = list(turn_reasons)
    if turns_below >= 2:
        reasons.append(f"hard to understand for {turns_below} turns in a row")
    return RecognitionEstimate(
        level=level,
        turns=prev.turns + 1,
        turns_below=turns_below,
        last_turn=clarity,
        history=(*prev.history, level)[-HISTORY_LENGTH:],
        reasons=tuple(reasons),
    )
