"""The capacity benchmark, end to end but tiny (1 and 2 calls, one short sentence, 4× line speed), so it cannot rot.

No timing assertions: how fast Warmline is is the benchmark's answer, not a test's. This checks that every number the
report promises is there and plausible (counts add up, CPU and memory are positive, latencies were measured).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from bench.capacity import Options, compare, run_benchmark, write_report

pytestmark = [pytest.mark.model, pytest.mark.slow]

LEVEL_KEYS = {
    "calls",
    "ok",
    "break_reasons",
    "calls_failed",
    "calls_transferred",
    "duration_s",
    "responses",
    "latency_ms",
    "latency_raw_ms",
    "latency_by_prompt_ms",
    "greeting_after_ms",
    "playout",
    "server",
    "cpu",
    "client_max_clock_lag_ms",
    "rss_mb",
    "per_call",
}


def test_a_smoke_run_reports_latency_late_audio_cpu_and_memory_for_one_and_two_calls(
    ko_model_path: Path, tmp_path: Path
) -> None:
    options = Options(
        levels=[1, 2],
        speed=4.0,
        spread_s=0.2,
        calls_per_slot=1,
        warm_recognizers=1,
        script="short",
        p95_limit_ms=1e9,  # never break on speed here: both levels must run
        model=ko_model_path,
        out=tmp_path / "capacity.json",
        tts_prompts=2,
        pause_s=0.2,
        call_timeout_s=120,
    )
    output = io.StringIO()
    report = run_benchmark(options, Console(file=output, width=200))
    data = json.loads(write_report(report, options.out).read_text(encoding="utf-8"))

    assert data["model"] == str(ko_model_path)
    assert data["endpoint_silence_ms"] == 700
    config = data["configs"]["optimised"]
    assert config["model"]["name"]
    assert config["startup"]["server_startup_s"]["model"] > 0
    assert config["startup"]["rss_idle_mb"] > data["memory"]["import_baseline_mb"] > 0
    assert data["memory"]["model_alone_mb"] > 50, "the Korean model is hundreds of MB"
    assert data["tts"]["prompts"] == 2 and data["tts"]["uncached_ms"] > 0

    levels = config["levels"]
    assert [lv["calls"] for lv in levels] == [1, 2]
    for level in levels:
        assert level.keys() >= LEVEL_KEYS
        calls = level["calls"]
        assert level["calls_failed"] == 0, level["failures"]
        assert level["calls_transferred"] == calls, "the short script ends with keypad 0: a person"
        assert level["responses"] >= calls, "every caller's sentence was answered"
        assert level["latency_raw_ms"]["p50"] > 0
        assert set(level["latency_ms"]) == {"p50", "p95", "max"}
        assert level["server"]["responses"] >= calls
        assert level["server"]["frames_sent"] > 0 and level["playout"]["prompt_frames"] > 0
        assert level["server"]["real_time_factor"] > 0
        assert level["cpu"]["server_cpu_s"] > 0 and level["cpu"]["core_pct_per_call"] > 0
        assert level["rss_mb"]["peak"] >= level["rss_mb"]["start"] > 0
        assert all(call["heard"][0] == "greeting" for call in level["per_call"])
    assert config["capacity"].keys() >= {"max_calls", "broke_at", "break_reasons"}

    same = compare(config, config)
    assert same["capacity_ratio"] in (1.0, None)
    assert [row["calls"] for row in same["levels"]] == [1, 2]
    assert "Headline" in output.getvalue()
