"""The Dockerfile cannot be built here (no Docker): check that what it names exists and that it runs as promised."""

from __future__ import annotations

import re

from ivr.api import create_app
from ivr.config import REPO_ROOT, Settings

DOCKERFILE = REPO_ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_every_file_the_image_copies_exists() -> None:
    for instruction, args in _instructions():
        if instruction == "COPY":
            *sources, _ = [word for word in args.split() if not word.startswith("--")]
            for source in sources:
                assert (REPO_ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_the_image_runs_as_a_non_root_user_with_a_readiness_healthcheck_and_drains_on_sigterm() -> None:
    instructions = _instructions()
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = " ".join(args for instruction, args in instructions if instruction == "HEALTHCHECK")
    assert "/readyz" in health
    paths = {getattr(route, "path", "") for route in create_app(Settings()).routes}
    assert "/readyz" in paths
    assert ("STOPSIGNAL", "SIGTERM") in instructions
    assert any(i == "FROM" and re.search(r"python:3\.1[1-9]-slim", a) for i, a in instructions)
    assert any(i == "RUN" and "espeak-ng" in a for i, a in instructions)


def test_every_setting_the_image_sets_is_a_real_one() -> None:
    fields = {f"IVR_{name.upper()}" for name in Settings.model_fields}
    for instruction, args in _instructions():
        if instruction == "ENV":
            for name in re.findall(r"(IVR_[A-Z_]+)=", args):
                assert name in fields, f"Dockerfile sets {name}, which Warmline does not read"
