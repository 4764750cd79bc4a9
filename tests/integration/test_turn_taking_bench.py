"""The turn-taking benchmark's parts stay honest: its turns are rendered as scripted, and its recogniser decodes
with the real model while reporting only the words whose audio it has been fed (the full run is
`python -m bench.turn_taking`, never a timed test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.turn_server import OracleEngine
from bench.turn_taking import FRAME, TURNS, render, script_for, utterance_start
from ivr.simulator.turns import HangupTurn, SpeakTurn


def test_a_paused_turn_is_two_stretches_with_the_pause_between(ko_model_path: Path) -> None:
    turn = render("nl", "free", "ik wil graag mijn | bestelling volgen", 500)
    (first, first_end), (second, second_end) = turn.stretches
    assert (first, second) == ("ik wil graag mijn", "bestelling volgen")
    assert second_end - first_end > 500 * 8  # the pause and the second stretch lie between the two ends
    assert turn.pause_ms == 500 and turn.text == "ik wil graag mijn bestelling volgen"
    caller, words = script_for(turn, {})
    assert isinstance(caller[0], SpeakTurn) and isinstance(caller[-1], HangupTurn)
    assert words == [[list(s) for s in turn.stretches]]


def test_the_recogniser_says_only_what_it_has_been_fed_and_decodes_it_for_real(ko_model_path: Path) -> None:
    turn = render("nl", "free", "ik wil graag mijn | bestelling volgen", 500)
    engine = OracleEngine(ko_model_path, {"CA1": [list(turn.stretches)]}, max_natives=2)
    recognizer = engine.new_recognizer("CA1")
    # The server's utterance starts with its pre-roll, before the turn's first sample: the stretch ends count from it.
    utterance = np.concatenate([np.zeros(-utterance_start(turn.audio), np.int16), turn.audio])
    up_to_pause = turn.stretches[0][1] + 200 * 8  # the seal comes 200 ms into the pause
    recognizer.accept(utterance[:up_to_pause].tobytes())
    recognizer.seal()
    assert recognizer.partial() == "ik wil graag mijn"
    recognizer.accept(utterance[up_to_pause:].tobytes() + bytes(FRAME * 2 * 20))
    final = recognizer.final()
    assert final.text == "ik wil graag mijn bestelling volgen" and final.duration > 1.0
    assert engine.pool_stats()["created"] >= 1  # the real model decoded the audio


def test_the_benchmark_has_enough_turns_of_every_kind() -> None:
    turns = [t for language in TURNS for t in TURNS[language]]
    assert len(turns) >= 60
    assert sum("|" in text for _, text in turns) * 3 >= len(turns) - 2  # about a third paused
    assert {expected for expected, _ in turns} == {"free", "digits", "yes_no"}
