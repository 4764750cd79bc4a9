"""What shared live state costs a caller turn: the registry work of one turn, in process vs in Redis.

```bash
python -m bench.redis_registry                 # 2,000 turns, 1 and 24 concurrent calls
python -m bench.redis_registry --turns 5000 --calls 1,24,96
```

Starts a throwaway ``redis-server`` on a loopback port (the Debian package, as the tests do) and runs, for each
configuration, what the call session does to the registry on one caller turn: the caller's line and the bot's answer
as events, and the dialog progress saved. In-process (``CallRegistry``, the embedded default) is the baseline;
``RedisCallRegistry`` is what each instance does with ``IVR_REDIS_URL`` set. The event-loop blocking this adds is the
latency a turn gains. Percentiles per turn, side by side, and the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ivr.call.progress import Progress
from ivr.call.record import CallRegistry
from ivr.call.shared import RedisCallRegistry
from ivr.dialog.engine import DialogState
from ivr.understanding import CallSignals
from tests.services import run_redis

CALLER_LINE = "ik wil graag weten waar mijn bestelling blijft, het ordernummer is vier vijf een twee"
BOT_LINE = "Uw bestelling 4 5 1 2 is onderweg, met verwachte bezorging morgen."


def one_turn(registry: CallRegistry, call_sid: str, turn: int) -> None:
    """The registry calls of one caller turn, as the session and the webhooks make them."""
    registry.add_event(call_sid, "caller", text=CALLER_LINE, intent="order_status", confidence=0.91, distress=0.02)
    registry.add_event(call_sid, "prompt", key="order_status", text=BOT_LINE)
    state = DialogState(step="anything_else", turns=turn)
    registry.save_progress(call_sid, Progress(state=state, signals=CallSignals(intent="order_status"), language="nl"))


def run(registry: CallRegistry, calls: int, turns: int, gap_s: float) -> list[float]:
    """Milliseconds per turn, over ``calls`` threads each taking a turn every ``gap_s`` (exponential) seconds."""
    timings: list[float] = []
    lock = threading.Lock()
    per_call = max(1, turns // calls)

    def caller(index: int) -> None:
        sid = f"CA-bench-{calls}-{index}-{time.monotonic_ns()}"
        registry.open(sid, "nl", caller="+316******78")
        mine = []
        pauses = random.Random(index)
        for turn in range(per_call):
            time.sleep(pauses.expovariate(1 / gap_s) if gap_s > 0 else 0)
            started = time.perf_counter()
            one_turn(registry, sid, turn)
            mine.append((time.perf_counter() - started) * 1000)
        registry.get(sid)
        registry.finish(sid, "completed")
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_registry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=2000, help="caller turns per configuration and level")
    parser.add_argument("--calls", default="1,24", help="concurrent calls, comma-separated")
    parser.add_argument(
        "--gap", type=float, default=0.25, help="mean seconds between one call's turns (real callers: 3-10 s; 0 = none)"
    )
    options = parser.parse_args(argv)
    console = Console()
    with run_redis() as server:
        client = server.client()
        version = client.info("server")["redis_version"]
        table = Table(
            title=f"Registry work per caller turn (2 events + progress), redis-server {version} on loopback, "
            f"a turn every {options.gap} s per call"
        )
        for column in ("calls", "in process p50", "p95", "Redis p50", "p95", "max", "added p50 / p95", "ratio p50"):
            table.add_column(column, justify="right")
        for calls in [int(part) for part in options.calls.split(",")]:
            local = run(CallRegistry(), calls, options.turns, options.gap)
            shared = RedisCallRegistry(client=client, instance_id="bench", prefix="bench:")
            shared_ms = run(shared, calls, options.turns, options.gap)
            table.add_row(
                str(calls),
                f"{statistics.median(local):.3f} ms",
                f"{pct(local, 0.95):.3f} ms",
                f"{statistics.median(shared_ms):.3f} ms",
                f"{pct(shared_ms, 0.95):.3f} ms",
                f"{max(shared_ms):.2f} ms",
                f"{statistics.median(shared_ms) - statistics.median(local):.3f} / "
                f"{pct(shared_ms, 0.95) - pct(local, 0.95):.3f} ms",
                f"{statistics.median(shared_ms) / statistics.median(local):.0f}×",
            )
        console.print(table)
        console.print(
            "In process: a dict under a lock. Redis: 3 round trips per turn (2 pipelined event writes, 1 progress "
            "write); the 5 s stream-claim renewal is one pipelined round trip per instance, not per call."
        )
        client.close()
