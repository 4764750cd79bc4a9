"""A narrower search is a view of the model, never an edit of it: the real model loads through the view."""

from __future__ import annotations

from pathlib import Path

from ivr.speech.search import model_with_search, search_conf
from ivr.speech.stt import VoskEngine


def test_the_search_settings_replace_only_the_beam_and_the_active_states() -> None:
    original = "--min-active=200\n--max-active=3000\n--beam=10.0\n--lattice-beam=2.0\n"
    conf = search_conf(original, 8.0, 1500)
    assert conf.splitlines() == ["--min-active=200", "--lattice-beam=2.0", "--beam=8", "--max-active=1500"]
    assert search_conf(original, None, 1000).splitlines()[:3] == [
        "--min-active=200",
        "--beam=10.0",
        "--lattice-beam=2.0",
    ]


def test_no_setting_loads_the_model_itself(ko_model_path: Path, tmp_path: Path) -> None:
    assert model_with_search(ko_model_path, tmp_path, None, None) == ko_model_path
    assert not any(tmp_path.iterdir())


def test_a_view_with_a_narrower_beam_loads_and_decodes_and_leaves_the_model_untouched(
    ko_model_path: Path, tmp_path: Path
) -> None:
    before = (ko_model_path / "conf" / "model.conf").read_text(encoding="utf-8")
    view = model_with_search(ko_model_path, tmp_path, 8.0, 1500)
    assert view != ko_model_path and "--beam=8" in (view / "conf" / "model.conf").read_text(encoding="utf-8")
    assert (ko_model_path / "conf" / "model.conf").read_text(encoding="utf-8") == before
    assert model_with_search(ko_model_path, tmp_path, 8.0, 1500) == view  # reused, not rebuilt
    engine = VoskEngine(view)
    recognizer = engine.new_recognizer("CA-view")
    recognizer.accept(bytes(8000 * 2))
    assert recognizer.final().duration == 1.0
    other = model_with_search(ko_model_path, tmp_path, 7.0, None)
    assert other != view and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
