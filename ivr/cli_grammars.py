"""``ivr grammars``: keep what the learned models read from ``grammars/<lang>/`` in step with its text files."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from ivr.config import Settings

grammars_app = typer.Typer(help="Intents, labelled sentences and what is learned from them.", no_args_is_help=True)
console = Console()


@grammars_app.command("calibrate")
def calibrate_command(
    lang: Annotated[list[str] | None, typer.Option(help="nl or en (repeat; default: both).")] = None,
) -> None:
    """After editing intents.yaml or training.yaml: refresh the sentence-vector cache (embeddings.npz) and refit the
    intent confidence curve and unknown threshold by 5-fold cross-validation (calibration.yaml)."""
    from ivr.signals.cross_validation import FOLDS, calibrate
    from ivr.signals.encoder import CACHE_FILE, refresh_cache, shared_encoder
    from ivr.signals.training import load_training_sentences

    settings = Settings()
    encoder = shared_encoder()
    for language in lang or ["nl", "en"]:
        if language not in ("nl", "en"):
            raise typer.BadParameter("--lang must be nl or en")
        folder = settings.grammars_dir / language
        start = time.perf_counter()
        texts = [s.text for s in load_training_sentences(settings.grammars_dir, language)]
        encoded, kept = refresh_cache(encoder, folder, texts)
        console.print(
            f"{language}: {folder / CACHE_FILE}: {kept} sentence vectors kept, {encoded} encoded "
            f"({time.perf_counter() - start:.1f} s)"
        )
        start = time.perf_counter()
        calibration = calibrate(settings.grammars_dir, language, encoder)
        (folder / "calibration.yaml").write_text(calibration.to_yaml(), encoding="utf-8")
        console.print(
            f"{language}: {folder / 'calibration.yaml'}: {FOLDS}-fold cross-validated accuracy "
            f"{calibration.cross_validated_accuracy:.1%}, unknown below {calibration.threshold:.2f} "
            f"({time.perf_counter() - start:.1f} s)"
        )
