"""The ``ivr`` command: serve, simulate, demo, models, prompts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ivr.cli_grammars import grammars_app
from ivr.cli_store import _fail, db_app, forget, purge, users_app
from ivr.config import Settings
from ivr.errors import IvrError

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Warmline: an offline voice IVR that hands callers warmly to a person.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Vosk speech models.", no_args_is_help=True)
rules_app = typer.Typer(help="Supervisors' transfer rules.", no_args_is_help=True)
prompts_app = typer.Typer(help="Spoken prompts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.command()(purge)
app.command()(forget)
app.add_typer(models_app, name="models")
app.add_typer(prompts_app, name="prompts")
app.add_typer(rules_app, name="rules")
app.add_typer(grammars_app, name="grammars")

console = Console()
err = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (1: see below).")] = 1,
) -> None:
    """Run the Warmline server (Twilio webhooks and media streams).

    One process per machine: its decode threads (IVR_DECODE_WORKERS) already use every core, and a second process
    would load the model again (~500 MB) — measured worse than one (bench/README.md). More calls than one machine
    holds: several instances on several machines with shared live state (IVR_REDIS_URL; deploy/README.md).
    """
    import uvicorn

    if workers != 1:
        raise typer.BadParameter(
            "Warmline runs as one process per machine: raise IVR_DECODE_WORKERS to use more cores; for more calls "
            "than one machine holds, run instances on several machines with IVR_REDIS_URL (deploy/README.md).",
            param_hint="--workers",
        )

    from ivr.speech.models import resolve_model

    resolve_model(Settings())  # a bad setting or a missing model is one line here, before anything starts
    # The app is built from the installed package, so the command works from any directory. The port is bound
    # before start-up: a second server on a busy port stops at once, before it loads a model or opens the store.
    # Forwarded headers are the app's to judge (IVR_TRUSTED_PROXIES), not uvicorn's (it trusts 127.0.0.1).
    # No per-message compression: media frames are base64 of μ-law, which hardly compresses, and deflating 50
    # frames a second per call cost ~6% of the event loop at 64 calls (py-spy, bench/README.md).
    config = uvicorn.Config(
        "ivr.api:create_app",
        factory=True,
        host=host,
        port=port,
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        proxy_headers=False,
    )
    uvicorn_log = logging.getLogger("uvicorn.error")
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.CRITICAL)  # its own bind error would be a second, less helpful line
    try:
        sock = config.bind_socket()
    except SystemExit as exc:
        raise _fail(IvrError(f"cannot listen on {host}:{port}: the port is in use or not allowed (--port)")) from exc
    finally:
        uvicorn_log.setLevel(level)
    uvicorn.Server(config).run(sockets=[sock])


_TURN_OPTIONS = {"--audio", "--press", "--text", "--silence", "--hangup", "--barge-in"}


def parse_turn_args(args: list[str], language: str) -> list[object]:
    """Caller turns in command-line order: --audio F, --press D, --text T, --silence S, --hangup MS, --barge-in MS."""
    from ivr.simulator.turns import HangupTurn, PressTurn, SilenceTurn, load_audio_turn, text_turn

    turns: list[object] = []
    barge: int | None = None
    it = iter(args)
    for option in it:
        if option not in _TURN_OPTIONS:
            raise typer.BadParameter(f"unknown option {option!r}; turns are {', '.join(sorted(_TURN_OPTIONS))}")
        value = next(it, None)
        if value is None:
            raise typer.BadParameter(f"{option} needs a value")
        if option == "--barge-in":
            barge = int(value)
            continue
        if option == "--audio":
            turns.append(load_audio_turn(Path(value), barge_in_ms=barge))
        elif option == "--text":
            turns.append(text_turn(value, language, barge_in_ms=barge))
        elif option == "--press":
            turns.append(PressTurn(value))
        elif option == "--silence":
            turns.append(SilenceTurn(float(value)))
        elif option == "--hangup":
            turns.append(HangupTurn(int(value)))
        barge = None
    return turns


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def simulate(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="A running Warmline; omit to run one in-process.")] = None,
    speed: Annotated[float, typer.Option(help="Pace the line N× real time.")] = 1.0,
    lang: Annotated[str, typer.Option(help="Language of the caller (and of an in-process server).")] = "nl",
    out: Annotated[Path, typer.Option(help="Write the call as a stereo WAV here.")] = Path("data/last-call.wav"),
) -> None:
    """Play the Twilio side of a call. Turns, in order: --audio F.wav --press 0 --text "…" --silence 2 --hangup MS.

    --barge-in MS before a turn makes the caller speak MS into the prompt. Text turns bypass recognition: they need
    an in-process server (no --url), whose recogniser returns the scripted text for the caller's real audio.
    """
    from ivr.simulator.run import run_simulation

    settings = Settings(language=lang)  # type: ignore[arg-type]
    try:
        turns = parse_turn_args(list(ctx.args), lang)
        asyncio.run(run_simulation(settings, turns, url=url, speed=speed, out=out, console=console))  # type: ignore[arg-type]
    except IvrError as exc:
        raise _fail(exc) from exc


@app.command()
def phone(
    url: Annotated[str | None, typer.Option(help="A running Warmline; omit to start one in this process.")] = None,
    lang: Annotated[str, typer.Option(help="Language of the call: nl or en.")] = "nl",
    input_device: Annotated[str | None, typer.Option(help="Microphone (number or name; see --list-devices).")] = None,
    output_device: Annotated[str | None, typer.Option(help="Speaker or headset (number or name).")] = None,
    list_devices: Annotated[bool, typer.Option("--list-devices", help="List the audio devices and stop.")] = False,
    text: Annotated[bool, typer.Option("--text", help="Type what you would say instead of speaking.")] = False,
    headset: Annotated[
        bool,
        typer.Option(
            "--headset",
            help="Full duplex. Without it (speakers), the microphone is muted while Warmline speaks unless you "
            "speak up clearly louder than the speaker's echo, so a prompt cannot interrupt itself.",
        ),
    ] = False,
    record: Annotated[
        Path | None, typer.Option(help="Write the call as a stereo WAV (left you, right Warmline).")
    ] = None,
) -> None:
    """Call Warmline from your microphone and speaker, over the real Twilio protocol: hear exactly what callers hear.

    Digits typed in the terminal are the keypad; q or Ctrl+C hangs up. Echo: see --headset.
    """
    from ivr.phone.audio import list_devices as devices
    from ivr.phone.run import open_device, run_phone

    if list_devices:
        console.print(devices())
        return
    if lang not in ("nl", "en"):
        raise typer.BadParameter("--lang must be nl or en")
    settings = Settings(language=lang)  # type: ignore[arg-type]
    device = open_device(text, input_device, output_device)
    try:
        asyncio.run(
            run_phone(settings, url=url, text=text, headset=headset, device=device, console=console, record=record)
        )
    except KeyboardInterrupt:
        err.print("hung up")


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="Pace the line N× real time.")] = 1.0,
    out: Annotated[Path, typer.Option(help="Where to write the stereo recording.")] = Path("data/demo-call.wav"),
) -> None:
    """A scripted Dutch call against a real local server: greeting, order status, then a person."""
    from ivr.simulator.demo import run_demo

    try:
        asyncio.run(run_demo(Settings(), speed=speed, out=out, console=console))
    except IvrError as exc:
        raise _fail(exc) from exc


@models_app.command("download")
def models_download(
    language: Annotated[str, typer.Argument(help="nl or en")],
    url: Annotated[str | None, typer.Option(help="Download from this URL instead of the official one.")] = None,
    dest: Annotated[
        Path | None, typer.Option(help="Models directory (default: IVR_MODELS_DIR or data/models).")
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="Install this .zip (downloaded elsewhere); same checks."),
    ] = None,
) -> None:
    """Download the official Vosk model for a language, verified by SHA-256 before it is installed."""
    from ivr.speech.models import download_model

    settings = Settings()
    try:
        path = download_model(language, dest or settings.resolved_models_dir, url=url, from_file=from_file)
    except IvrError as exc:
        raise _fail(exc) from exc
    console.print(f"model ready: {path}")


@models_app.command("path")
def models_path(language: Annotated[str, typer.Argument(help="nl or en")] = "nl") -> None:
    """Show which model a server for this language would load."""
    from ivr.speech.models import resolve_model

    try:
        console.print(str(resolve_model(Settings(language=language))))  # type: ignore[arg-type]
    except IvrError as exc:
        raise _fail(exc) from exc


@prompts_app.command("render")
def prompts_render(
    lang: Annotated[list[str] | None, typer.Option(help="Languages (default: all).")] = None,
) -> None:
    """Pre-render every fixed prompt in grammars/ to the audio cache."""
    from ivr.speech.prompts import render_all
    from ivr.speech.tts import SpeechSynthesizer

    settings = Settings()
    languages = lang or ["nl", "en"]
    with SpeechSynthesizer(settings.audio_cache_dir, settings.grammars_dir, rate=settings.tts_rate) as synth:
        report = asyncio.run(render_all(synth, settings.grammars_dir, languages, settings.company_name))
    for counts in report.languages:
        console.print(
            f"prompts ({counts.language}): {counts.rendered} rendered, {counts.cached} already cached, "
            f"{counts.skipped} need call data (rendered during calls) → {settings.audio_cache_dir}"
        )


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="The rules YAML file.")]) -> None:
    """Validate a rules file: exit 0 when valid, else print file, line and reason and exit 1."""
    from ivr.evaluation import Understander
    from ivr.rules.loader import RulesError

    try:
        understander = Understander.load(Settings(), rules_file=file)
    except RulesError as exc:
        raise _fail(exc) from exc
    rules = understander.rules
    console.print(f"{file}: valid — {len(rules.rules)} rules, {len(rules.targets)} targets")


@app.command()
def classify(
    texts: Annotated[list[str], typer.Argument(help="Caller sentences (first turns).")],
    lang: Annotated[str, typer.Option(help="nl or en.")] = "nl",
    rules: Annotated[Path | None, typer.Option(help="Rules file (default: IVR_RULES_FILE).")] = None,
) -> None:
    """Print one JSON object per text: intent, distress, and what the rules in force would do on a first turn."""
    from ivr.evaluation import Understander

    if lang not in ("nl", "en"):
        raise typer.BadParameter("--lang must be nl or en")
    try:
        understander = Understander.load(Settings(), rules_file=rules)
    except IvrError as exc:
        raise _fail(exc) from exc
    for text in texts:
        typer.echo(understander.classify(text, lang).model_dump_json())  # type: ignore[arg-type]


@app.command("eval")
def evaluate(
    file: Annotated[
        list[Path] | None,
        typer.Option(help="Labelled utterances (repeat for several; default: every set in tests/data/eval)."),
    ] = None,
    misses: Annotated[bool, typer.Option(help="Also list every miss.")] = False,
) -> None:
    """Measure intent accuracy, transfer decisions and distress detection; several sets side by side."""
    from rich.table import Table

    from ivr.config import REPO_ROOT
    from ivr.evaluation import Understander, load_eval_items, run_eval

    files = file or sorted((REPO_ROOT / "tests" / "data" / "eval").glob("*.yaml"))
    if not files:
        raise _fail(IvrError("no labelled sets found: give one with --file"))
    understander = Understander.load(Settings())
    reports = {path: run_eval(understander, load_eval_items(path)) for path in files}
    if len(reports) == 1:
        path, report = next(iter(reports.items()))
        table = Table(title=f"Warmline evaluation — {path}")
        for column in ("measure", "hits", "total", "share"):
            table.add_column(column, justify="left" if column == "measure" else "right")
        for name, hits, total in report.rows:
            table.add_row(name, str(hits), str(total), f"{hits / total:.1%}" if total else "–")
    else:
        table = Table(title="Warmline evaluation — share per set (--file SET for the counts)")
        table.add_column("measure")
        for path in reports:
            table.add_column(path.stem, justify="right")
        measures = list(dict.fromkeys(name for report in reports.values() for name, _, _ in report.rows))
        for measure in measures:
            cells = []
            for report in reports.values():
                row = next((r for r in report.rows if r[0] == measure), None)
                cells.append(f"{row[1] / row[2]:.1%}" if row and row[2] else "–")
            table.add_row(measure, *cells)
    console.print(table)
    if misses:
        for path, report in reports.items():
            for line in report.misses:
                console.print(f"[dim]miss {path.stem}[/dim] {line}")


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    """Warmline: an offline voice IVR that hands callers warmly to a person."""
    _DEBUG[0] = debug


_DEBUG = [False]


def main() -> None:
    """The ``ivr`` command. A bad setting or a known problem is one line naming what to fix; ``--debug`` shows the
    traceback instead."""
    from pydantic import ValidationError

    from ivr.config import settings_error_line

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except (ValidationError, IvrError, OSError) as exc:
        if _DEBUG[0]:
            raise
        line = settings_error_line(exc) if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"error: {line}  (--debug shows the traceback)", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
