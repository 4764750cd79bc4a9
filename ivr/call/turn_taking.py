"""One call's turn-taking: how much trailing silence ends the caller's current turn, and what their pauses taught.

The endpointer counts silence; this decides what the count must reach. With ``IVR_END_OF_TURN=adaptive`` the
recogniser is sealed early in every pause (``ADAPTIVE_SEAL_MS``), the words heard so far are judged on a decode thread
(:func:`ivr.dialog.turn_end.turn_end`), and the verdict moves the endpointer's goal for this pause: a complete answer
ends the turn at once or after the short hold, an unfinished sentence waits the long one. When the caller goes on
after a pause the words did not explain (not "… mijn", but "mijn pakket" followed by more), that pause is remembered,
and no later hold in the call is shorter than their longest such pause. A verdict that arrives after the caller went
on is ignored (each pause has its own number).
"""

from __future__ import annotations

from ivr.config import Settings
from ivr.dialog.actions import GrammarName
from ivr.dialog.engine import DialogContext
from ivr.dialog.turn_end import TurnEnd, TurnEndTimes, learned_pause_ms, turn_end
from ivr.speech.vad import Endpointer, SpeechEnded

#: With a fixed hold: after this much silence the recogniser finalises what it heard (a "seal"), so the transcript is
#: ready when the full silence has passed — the slow part of Vosk's final result is off the response path.
SEAL_AFTER_MS = 300
#: With adaptive end of turn the seal comes sooner: its words decide whether the short hold (250 ms) may end the turn.
ADAPTIVE_SEAL_MS = 200


class TurnTaking:
    """The end-of-turn state of one call, steering its ``Endpointer``."""

    def __init__(self, settings: Settings, endpointer: Endpointer) -> None:
        self.adaptive = settings.end_of_turn == "adaptive" and not settings.naive_decode
        self.times = TurnEndTimes(
            short_ms=settings.turn_end_short_ms,
            default_ms=settings.endpoint_silence_ms,
            long_ms=settings.turn_end_long_ms,
        )
        self._endpointer = endpointer
        endpointer.trailing_silence_ms = self.times.default_ms
        if self.adaptive:
            self.seal_after_ms: int | None = ADAPTIVE_SEAL_MS
        else:
            fits = settings.endpoint_silence_ms >= SEAL_AFTER_MS + 200
            self.seal_after_ms = SEAL_AFTER_MS if fits else None
        #: the longest pause this caller went on after, where the words said they could be done (0: none yet)
        self._longest_pause_ms = 0.0
        #: numbers the caller's pauses: a verdict is for one pause only
        self.pause_id = 0
        #: the verdict on the current pause, once judged
        self.last: TurnEnd | None = None

    def base_hold_ms(self) -> int:
        """The hold before any words are judged: the default, or longer for a caller who pauses longer."""
        if not self.adaptive:
            return self.times.default_ms
        return max(self.times.default_ms, learned_pause_ms(self._pauses()))

    def begin_turn(self) -> None:
        self.last = None
        self._endpointer.trailing_silence_ms = self.base_hold_ms()

    def resumed(self, pause_ms: float) -> None:
        """The caller went on after a pause long enough to seal; the next pause is judged afresh.

        The pause is learned only when its words said the turn could be over: a pause after "mijn" or "euh" was
        expected, and says nothing about how long this caller pauses.
        """
        self.pause_id += 1
        if self.adaptive and self.last is not None and self.last.kind != "long":
            self._longest_pause_ms = max(self._longest_pause_ms, pause_ms)
        self.last = None
        self._endpointer.trailing_silence_ms = self.base_hold_ms()

    def judge(self, ctx: DialogContext, heard: str, expected: GrammarName) -> TurnEnd:
        """The verdict on a pause (blocking: it may encode the sentence; run it on a decode thread)."""
        return turn_end(ctx, heard, expected, self.times, self._pauses())

    def _pauses(self) -> tuple[float, ...]:
        """The caller's pauses as the pure policy reads them (only the longest matters)."""
        return (self._longest_pause_ms,) if self._longest_pause_ms else ()

    def apply(self, pause_id: int, verdict: TurnEnd) -> SpeechEnded | None:
        """Set this pause's hold; returns the end of the turn when the silence has already reached it."""
        if pause_id != self.pause_id or not self._endpointer.in_speech:
            return None  # the caller went on (or the turn ended) meanwhile
        self.last = verdict
        self._endpointer.trailing_silence_ms = verdict.hold_ms
        if self._endpointer.silence_ms >= verdict.hold_ms:
            return self._endpointer.end_now()
        return None
