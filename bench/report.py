"""Rich tables for the capacity benchmark (the JSON report carries the same numbers and more)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _pair(latency: dict[str, Any]) -> str:
    return f"{_ms(latency.get('p50'))}/{_ms(latency.get('p95'))}"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def print_header(report: dict[str, Any], console: Console) -> None:
    options = report["options"]
    console.rule("[bold]Warmline capacity and latency")
    console.print(f"model: [cyan]{report['model']}[/cyan] · server code {report['server_revision']}")
    console.print(
        f"machine: {report['machine']['cpus']} CPUs, Python {report['machine']['python']} · "
        f"line speed {options['speed']}× · script {options['script']} · "
        f"{options['calls_per_slot']} calls per slot, slot starts spread over "
        f"{options['spread_s'] or 'one call length'} s · IVR_ENDPOINT_SILENCE_MS={report['endpoint_silence_ms']} "
        "(subtracted from every latency)"
    )


def print_config(config: dict[str, Any], p95_limit_ms: float, console: Console) -> None:
    table = Table(title=f"{config['name']}: end of caller speech → first answer frame (ms, client side)")
    for header in ("calls", "ok", "answers", "p50", "p95", "max", "server p50/p95"):
        table.add_column(header, justify="right")
    for header in (
        "understand p50/p95",
        "gaps / late",
        "CPU/call",
        "server CPU",
        "client CPU",
        "RSS peak",
        "RTF",
        "lag",
    ):
        table.add_column(header, justify="right")
    table.add_column("verdict")
    for lv in config["levels"]:
        lat, server = lv["latency_ms"], lv["server"]
        scope = "" if server["latency_scope"] == "level" else "*"
        verdict = "[green]held[/green]" if lv["ok"] else "[red]" + "; ".join(lv["break_reasons"]) + "[/red]"
        p95_style = "red" if lat["p95"] is not None and lat["p95"] > p95_limit_ms else "green"
        table.add_row(
            str(lv["calls"]),
            f"{lv['calls'] - lv['calls_failed']}/{lv['calls']}",
            str(lv["responses"]),
            _ms(lat["p50"]),
            f"[{p95_style}]{_ms(lat['p95'])}[/{p95_style}]",
            _ms(lat["max"]),
            f"{_ms(server['latency_ms']['p50'])}/{_ms(server['latency_ms']['p95'])}{scope}",
            _pair(server.get("understanding_ms") or {}),
            f"{lv['playout']['underrun_frames']} / {server['late_frames']}",
            f"{lv['cpu']['core_pct_per_call']:.1f}%",
            f"{lv['cpu']['server_cores'] * 100:.0f}%",
            f"{lv['cpu']['client_cores'] * 100:.0f}%",
            f"{lv['rss_mb']['peak']:.0f} MB",
            _num(server["real_time_factor"], "{:.3f}"),
            f"{lv['client_max_clock_lag_ms']:.0f}",
            verdict,
        )
    console.print(table)
    notes = [
        "gaps = 20 ms ticks where the caller's playout buffer ran dry mid-prompt; late = frames the server sent late",
        "CPU/call = server CPU time ÷ level duration ÷ calls (% of one core); lag = worst simulator clock lag (ms)",
    ]
    if any(lv["server"]["latency_scope"] != "level" for lv in config["levels"]):
        notes.append("* server percentiles since start (the server does not expose its latency window)")
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    startup = config["startup"]
    capacity = config["capacity"]
    console.print(
        f"cold start: spawn → healthy {startup['spawn_to_healthy_s']} s, server startup {startup['server_startup_s']} "
        f"· idle RSS {startup['rss_idle_mb']} MB · per extra call {_num(config['memory_per_call_mb'])} MB"
    )
    active = config.get("baseline_active")
    if active is not None and not all(active.values()):
        console.print(
            f"[yellow]warning: the server ignored part of the naive configuration {active} — "
            "the 'baseline' numbers are (partly) the optimised path[/yellow]"
        )
    held = capacity["max_calls"]
    beyond = " (every level held — try more)" if capacity["limit_reached"] else ""
    console.print(
        f"[bold]{config['name']}: {held} concurrent calls[/bold] with p95 ≤ {p95_limit_ms:.0f} ms and no late audio"
        f"{beyond}"
    )


def print_summary(report: dict[str, Any], console: Console) -> None:
    tts = report.get("tts")
    if tts:
        table = Table(title=f"Prompt synthesis ({tts['prompts']} prompts, {tts['audio_s']:.1f} s of speech)")
        table.add_column("path")
        table.add_column("ms per prompt", justify="right")
        table.add_row("uncached (espeak-ng render + μ-law + cache write)", f"{tts['uncached_ms']:.1f}")
        table.add_row("cached on disk (fresh process)", f"{tts['disk_cached_ms']:.2f}")
        table.add_row("cached in memory", f"{tts['memory_cached_ms']:.3f}")
        console.print(table)
    memory = report.get("memory")
    if memory:
        table = Table(title="Memory (RSS)")
        table.add_column("what")
        table.add_column("MB", justify="right")
        table.add_row("Python + app imported, no model (baseline)", f"{memory['import_baseline_mb']:.0f}")
        table.add_row("Vosk model loaded alone (delta)", f"{memory['model_alone_mb']:.0f}")
        table.add_row("idle server (model, TTS engine, runtime)", f"{memory['server_idle_mb']:.0f}")
        table.add_row("shared: idle server − baseline", f"{memory['shared_mb']:.0f}")
        table.add_row("per extra concurrent call (slope of peak RSS)", _num(memory["per_call_mb"]))
        console.print(table)
    comparison = report.get("comparison")
    if comparison:
        table = Table(title="Optimised vs naive (ratios > 1: the optimised path wins)")
        table.add_column("calls", justify="right")
        for header in ("p50 ratio", "p95 ratio", "CPU/call ratio", "RTF ratio"):
            table.add_column(header, justify="right")
        for row in comparison["levels"]:
            table.add_row(
                str(row["calls"]),
                _num(row["p50_ratio"]),
                _num(row["p95_ratio"]),
                _num(row["cpu_per_call_ratio"]),
                _num(row["rtf_ratio"]),
            )
        console.print(table)
        cap = comparison["capacity"]
        console.print(
            f"capacity: optimised {cap['optimised']} vs naive {cap['baseline']} calls "
            f"(ratio {_num(comparison['capacity_ratio'])})"
        )
    configs = report.get("configs", {})
    if "optimised" in configs:
        held = configs["optimised"]["capacity"]["max_calls"]
        console.rule(f"[bold]Headline: {held} concurrent calls with p95 ≤ {report['options']['p95_limit_ms']:.0f} ms")
