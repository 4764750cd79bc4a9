"""Model download over real HTTP on 127.0.0.1: verified installs, and failures that leave nothing behind."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ivr.config import REPO_ROOT, Settings
from ivr.errors import ModelDownloadError, ModelNotFoundError
from ivr.speech.models import download_model, resolve_model

NL_MODEL = "vosk-model-small-nl-0.22"  # the name grammars/nl/language.yaml gives

FAKE_MODEL = {
    "README": b"A tiny stand-in for a Vosk model, built by the test.\n",
    "am/final.mdl": bytes(range(256)) * 40,
    "conf/mfcc.conf": b"--use-energy=false\n--sample-frequency=16000\n",
    "conf/model.conf": b"--min-active=200\n--beam=10.0\n",
    "graph/HCLr.fst": b"\x00\x01fst" * 100,
    "ivector/online_cmvn.conf": b"",
}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Mirror:
    """A local web server standing in for alphacephei.com."""

    root: Path
    base_url: str

    def publish_zip(self, name: str, members: dict[str, bytes]) -> str:
        with zipfile.ZipFile(self.root / name, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return f"{self.base_url}/{name}"

    def sha256(self, name: str) -> str:
        return hashlib.sha256((self.root / name).read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Mirror(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def in_folder(folder: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Lay files out like an official Vosk zip: everything under one folder named after the model."""
    return {f"{folder}/{path}": data for path, data in files.items()}


def write_manifest(path: Path, files: dict[str, bytes], *, corrupt: str | None = None) -> Path:
    lines = ["# Expected contents of the fake model.", "path\tsize_bytes\tsha256\tkind"]
    for name, data in files.items():
        digest = hashlib.sha256(data + (b"tampered" if name == corrupt else b"")).hexdigest()
        lines.append(f"{name}\t{len(data)}\t{digest}\ttext")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir()) if models_dir.exists() else []


def test_verified_download_installs_the_model_and_resolve_model_finds_it(
    mirror: Mirror, models_dir: Path, tmp_path: Path
) -> None:
    url = mirror.publish_zip("nl.zip", in_folder(NL_MODEL, FAKE_MODEL))
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL)

    installed = download_model("nl", models_dir, url=url, manifest=manifest, progress=True)

    assert installed == models_dir / NL_MODEL
    assert (installed / "am" / "final.mdl").read_bytes() == FAKE_MODEL["am/final.mdl"]
    assert leftovers(models_dir) == [NL_MODEL]  # no scratch directories or zip left over
    assert resolve_model(Settings(models_dir=models_dir, language="nl")) == installed


def test_a_file_not_matching_its_checksum_fails_and_installs_nothing(
    mirror: Mirror, models_dir: Path, tmp_path: Path
) -> None:
    url = mirror.publish_zip("nl.zip", in_folder(NL_MODEL, FAKE_MODEL))
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL, corrupt="graph/HCLr.fst")

    with pytest.raises(ModelDownloadError, match=r"graph/HCLr\.fst"):
        download_model("nl", models_dir, url=url, manifest=manifest, progress=False)

    assert leftovers(models_dir) == []
    with pytest.raises(ModelNotFoundError):
        resolve_model(Settings(models_dir=models_dir, language="nl"))


def test_a_file_missing_from_the_zip_is_named(mirror: Mirror, models_dir: Path, tmp_path: Path) -> None:
    incomplete = {k: v for k, v in FAKE_MODEL.items() if k != "conf/model.conf"}
    url = mirror.publish_zip("nl.zip", in_folder(NL_MODEL, incomplete))
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL)

    with pytest.raises(ModelDownloadError, match=r"conf/model\.conf is missing"):
        download_model("nl", models_dir, url=url, manifest=manifest, progress=False)
    assert leftovers(models_dir) == []


def test_a_zip_with_path_traversal_is_rejected_before_anything_is_written(
    mirror: Mirror, models_dir: Path, tmp_path: Path
) -> None:
    evil = {**in_folder(NL_MODEL, FAKE_MODEL), "../../escaped.txt": b"gotcha"}
    url = mirror.publish_zip("evil.zip", evil)
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL)

    with pytest.raises(ModelDownloadError, match="escape"):
        download_model("nl", models_dir, url=url, manifest=manifest, progress=False)

    assert leftovers(models_dir) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_missing_file_on_the_server_is_a_clear_error(mirror: Mirror, models_dir: Path) -> None:
    url = f"{mirror.base_url}/no-such-model.zip"

    with pytest.raises(ModelDownloadError, match=r"no-such-model\.zip failed: HTTP 404"):
        download_model("nl", models_dir, url=url, progress=False)
    assert leftovers(models_dir) == []


def test_an_unreachable_server_is_a_clear_error(models_dir: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(ModelDownloadError, match="cannot reach") as caught:
        download_model("nl", models_dir, url=f"http://127.0.0.1:{port}/m.zip", progress=False)
    assert "ivr models download nl --from-file" in str(caught.value)  # what to do without internet


def test_the_shipped_dutch_manifest_rejects_a_fake_model(mirror: Mirror, models_dir: Path) -> None:
    url = mirror.publish_zip("nl.zip", in_folder(NL_MODEL, FAKE_MODEL))

    with pytest.raises(ModelDownloadError, match=rf"{NL_MODEL}: README has \d+ bytes, expected 260"):
        download_model("nl", models_dir, url=url, progress=False)
    assert leftovers(models_dir) == []


def test_without_a_manifest_the_zip_checksum_is_checked(mirror: Mirror, models_dir: Path) -> None:
    url = mirror.publish_zip("en.zip", in_folder("some-folder", FAKE_MODEL))

    with pytest.raises(ModelDownloadError, match="SHA-256"):
        download_model("en", models_dir, url=url, sha256="0" * 64, progress=False)
    assert leftovers(models_dir) == []

    installed = download_model("en", models_dir, url=url, sha256=mirror.sha256("en.zip"), progress=False)
    assert installed.name == "vosk-model-small-en-us-0.15"
    assert (installed / "conf" / "mfcc.conf").is_file()


@pytest.fixture
def unpinned_grammars(tmp_path: Path) -> Path:
    """Grammars whose English model has no checksum (as a company's own language might)."""
    grammars = tmp_path / "grammars"
    shutil.copytree(REPO_ROOT / "grammars", grammars)
    path = grammars / "en" / "language.yaml"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "sha256" not in line) + "\n")
    return grammars


def test_the_shipped_english_model_is_checked_against_its_pinned_checksum(mirror: Mirror, models_dir: Path) -> None:
    url = mirror.publish_zip("en.zip", in_folder("vosk-model-small-en-us-0.15", FAKE_MODEL))
    with pytest.raises(ModelDownloadError, match="does not match the expected 30f26242"):
        download_model("en", models_dir, url=url, progress=False)
    assert leftovers(models_dir) == []


def test_a_zip_from_disk_is_installed_with_the_same_checks(mirror: Mirror, models_dir: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL)
    mirror.publish_zip("nl.zip", in_folder(NL_MODEL, FAKE_MODEL))
    installed = download_model("nl", models_dir, from_file=mirror.root / "nl.zip", manifest=manifest, progress=False)
    assert (installed / "am" / "final.mdl").is_file()

    tampered = write_manifest(tmp_path / "bad.tsv", FAKE_MODEL, corrupt="am/final.mdl")
    with pytest.raises(ModelDownloadError, match="does not match its SHA-256"):
        download_model("nl", models_dir, from_file=mirror.root / "nl.zip", manifest=tampered, force=True)
    with pytest.raises(ModelDownloadError, match="no such file"):
        download_model("nl", models_dir, from_file=tmp_path / "missing.zip", force=True)


def test_an_unverifiable_download_is_installed_with_a_warning(
    mirror: Mirror, models_dir: Path, caplog: pytest.LogCaptureFixture, unpinned_grammars: Path
) -> None:
    url = mirror.publish_zip("en.zip", FAKE_MODEL)  # a flat zip, no top-level folder

    with caplog.at_level(logging.WARNING, logger="ivr.speech.models"):
        installed = download_model("en", models_dir, url=url, progress=False, grammars_dir=unpinned_grammars)

    assert "unverified" in caplog.text
    assert (installed / "am" / "final.mdl").is_file()


def test_a_zip_without_a_model_is_refused(mirror: Mirror, models_dir: Path, unpinned_grammars: Path) -> None:
    url = mirror.publish_zip("en.zip", {"notes.txt": b"not a model"})

    with pytest.raises(ModelDownloadError, match="no Vosk model"):
        download_model("en", models_dir, url=url, progress=False, grammars_dir=unpinned_grammars)
    assert leftovers(models_dir) == []


def test_an_installed_model_is_kept_unless_forced(mirror: Mirror, models_dir: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "nl.tsv", FAKE_MODEL)
    url = mirror.publish_zip("nl.zip", in_folder(NL_MODEL, FAKE_MODEL))
    installed = download_model("nl", models_dir, url=url, manifest=manifest, progress=False)
    (installed / "local-note.txt").write_text("kept")

    assert download_model("nl", models_dir, url=url, manifest=manifest, progress=False) == installed
    assert (installed / "local-note.txt").exists()

    download_model("nl", models_dir, url=url, manifest=manifest, progress=False, force=True)
    assert not (installed / "local-note.txt").exists()
    assert leftovers(models_dir) == [NL_MODEL]


def test_resolve_model_names_the_download_command_when_nothing_is_installed(models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(Settings(models_dir=models_dir, language="nl"))

    assert "run `ivr models download nl` (or set IVR_VOSK_MODEL" in str(caught.value)


def test_resolve_model_prefers_ivr_vosk_model(ko_model_path: Path, models_dir: Path) -> None:
    assert resolve_model(Settings(vosk_model=ko_model_path, models_dir=models_dir)) == ko_model_path


def test_resolve_model_names_a_missing_ivr_vosk_model_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "vosk-model"

    with pytest.raises(ModelNotFoundError, match=str(missing)):
        resolve_model(Settings(vosk_model=missing))
