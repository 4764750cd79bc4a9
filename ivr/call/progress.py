"""Where a call's conversation stands, kept after every turn so a new media stream can pick it up.

When a stream ends without a decision — its server was killed, crashed or drained — Twilio asks
``/twilio/after-stream`` on whichever instance the load balancer picks. That instance finds the call's progress in the
registry and answers with a new stream that resumes the dialog at the same step, with the same signals and failure
count (:class:`ivr.dialog.actions.Resumed`). A call resumes at most once after a loss; a second loss goes to a person.
A draining instance's planned hand-over is not a loss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ivr.dialog.engine import DialogState
from ivr.understanding import CallSignals

#: resumes a call may have; one more lost stream goes to a person
MAX_RESUMES = 1


@dataclass(frozen=True, slots=True)
class Progress:
    """A call's dialog state and signals after its latest turn, and how often it was resumed already."""

    state: DialogState
    signals: CallSignals
    language: str
    resumes: int = 0
    #: hand-overs a draining instance made on purpose: they do not use up the call's resume (a rolling deploy of
    #: every instance moves a long call several times; only losses count)
    planned: int = 0
    #: after a transfer decision: where the dialog picks up again if nobody can take the call and the caller
    #: chooses to go back to Warmline
    back_state: DialogState | None = None
    #: this stream resumes after such a choice (not after a lost connection): the caller hears so
    back_to_bot: bool = False

    @property
    def resumable(self) -> bool:
        return not self.state.ended and self.resumes - self.planned < MAX_RESUMES


def back_state(before: DialogState, after: DialogState) -> DialogState:
    """Where a caller who goes back to Warmline after a transfer picks up: the step the transfer interrupted, with
    everything learnt on the way (facts, topic) and a fresh count of failed attempts."""
    return replace(after, step="intent" if before.step == "start" else before.step, failure_reasons=())


def back_to_bot(progress: Progress) -> Progress:
    """The progress a back-to-Warmline stream starts from. Counted as a planned hand-over, not a lost stream."""
    assert progress.back_state is not None
    return replace(
        progress,
        state=progress.back_state,
        back_state=None,
        back_to_bot=True,
        resumes=progress.resumes + 1,
        planned=progress.planned + 1,
    )
