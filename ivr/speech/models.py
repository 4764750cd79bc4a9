"""Finding the Vosk model for a language, and downloading one safely when it is not there yet.

A model is installed all-or-nothing: the zip is unpacked beside the cache in a temporary directory, checked
against a manifest of sizes and SHA-256 sums, and only then renamed into place. A failed or tampered download
therefore never leaves a half-model that ``resolve_model`` would hand to Vosk (which would crash on it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
import yaml
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ivr.config import REPO_ROOT, Settings
from ivr.errors import ConfigError, ModelDownloadError, ModelNotFoundError

log = logging.getLogger(__name__)

MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Which Vosk model a language uses, from ``grammars/<lang>/language.yaml``."""

    language: str
    name: str
    url: str
    #: SHA-256 of the zip itself, when language.yaml gives one
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file a complete model must contain."""

    path: str
    size: int
    sha256: str
    kind: str = ""


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` holds a Vosk model (current layout ``am/final.mdl`` or the old flat ``final.mdl``)."""
    return path.is_dir() and ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file())


def model_spec(language: str, grammars_dir: Path) -> ModelSpec:
    """Read the ``model: {name, url}`` entry of a language."""
    path = grammars_dir / language / "language.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file, so language '{language}' is not set up") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or not model.get("name") or not model.get("url"):
        raise ConfigError(f"{path}: needs `model:` with `name:` and `url:`")
    sha256 = model.get("sha256")
    return ModelSpec(language, str(model["name"]), str(model["url"]), str(sha256) if sha256 else None)


def resolve_model(settings: Settings) -> Path:
    """The model directory to load: ``IVR_VOSK_MODEL`` if set, else the download cache for the language."""
    if settings.vosk_model is not None:
        if not settings.vosk_model.exists():
            raise ModelNotFoundError(f"IVR_VOSK_MODEL={settings.vosk_model} does not exist")
        if not is_model_dir(settings.vosk_model):
            raise ModelNotFoundError(f"IVR_VOSK_MODEL={settings.vosk_model} is not a Vosk model (no am/final.mdl)")
        return settings.vosk_model
    spec = model_spec(settings.language, settings.grammars_dir)
    cached = settings.resolved_models_dir / spec.name
    if is_model_dir(cached):
        return cached
    raise ModelNotFoundError(
        f"No Vosk model for language '{settings.language}' (looked for {cached}): "
        f"run `ivr models download {settings.language}` (or set IVR_VOSK_MODEL to a model directory)"
    )


def default_manifest(model_name: str) -> Path | None:
    """The manifest shipped with Warmline for this model, if there is one."""
    path = MANIFESTS_DIR / f"{model_name}.MANIFEST.tsv"
    return path if path.is_file() else None


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Parse a manifest TSV (columns path, size_bytes, sha256, kind; ``#`` lines are comments)."""
    entries: list[ManifestEntry] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if fields[0] == "path":
            continue  # header
        if len(fields) < 3 or not fields[1].isdigit() or len(fields[2]) != 64:
            raise ModelDownloadError(f"{path}:{number}: expected path, size_bytes, sha256, kind")
        if _unsafe(fields[0]):
            raise ModelDownloadError(f"{path}:{number}: {fields[0]!r} points outside the model directory")
        entries.append(
            ManifestEntry(fields[0], int(fields[1]), fields[2].lower(), fields[3] if len(fields) > 3 else "")
        )
    return entries


def verify_model(model_dir: Path, entries: list[ManifestEntry]) -> None:
    """Raise ``ModelDownloadError`` naming the first file that is missing or differs from the manifest."""
    for entry in entries:
        path = model_dir / entry.path
        if not path.is_file():
            raise ModelDownloadError(f"{model_dir.name}: {entry.path} is missing")
        size = path.stat().st_size
        if size != entry.size:
            raise ModelDownloadError(f"{model_dir.name}: {entry.path} has {size} bytes, expected {entry.size}")
        if _sha256_file(path) != entry.sha256:
            raise ModelDownloadError(f"{model_dir.name}: {entry.path} does not match its SHA-256 in the manifest")


def download_model(
    language: str,
    dest_dir: Path,
    *,
    url: str | None = None,
    manifest: Path | None = None,
    sha256: str | None = None,
    progress: bool = True,
    force: bool = False,
    grammars_dir: Path = REPO_ROOT / "grammars",
    from_file: Path | None = None,
) -> Path:
    """Download, verify and install the language's model as ``dest_dir/<model name>``; return that path.

    ``url`` overrides the one in language.yaml (mirrors, tests); ``from_file`` installs a zip already on disk
    (a machine without internet), checked exactly like a download. Verification uses ``manifest``, else the
    shipped manifest for the model, else the zip's SHA-256 (``sha256`` or language.yaml), else nothing (with a
    warning). An installed model is kept unless ``force``.
    """
    spec = model_spec(language, grammars_dir)
    target = dest_dir / spec.name
    if target.exists() and not force:
        log.info("%s is already installed in %s", spec.name, target)
        return target
    manifest = manifest or default_manifest(spec.name)
    entries = read_manifest(manifest) if manifest else None
    zip_sha256 = (sha256 or spec.sha256 or "").lower() or None
    if entries is None and zip_sha256 is None:
        log.warning("no manifest or checksum for %s: installing it unverified", spec.name)

    dest_dir.mkdir(parents=True, exist_ok=True)
    with _scratch(dest_dir, spec.name) as scratch:
        archive = scratch / "download.zip"
        source = str(from_file) if from_file is not None else url or spec.url
        if from_file is not None:
            digest = _copy(from_file, archive)
        else:
            digest = _fetch(source, archive, progress=progress, language=language)
        if zip_sha256 is not None and digest != zip_sha256:
            raise ModelDownloadError(f"{source}: SHA-256 {digest} does not match the expected {zip_sha256}")
        root = _extract(archive, scratch / "unpacked")
        if entries is not None:
            verify_model(root, entries)
        if not is_model_dir(root):
            raise ModelDownloadError(f"{source}: the zip holds no Vosk model (no am/final.mdl)")
        _install(root, target)
    return target


# ── internals ──────────────────────────────────────────────────────────────────────────────────────────────
def _unsafe(member: str) -> bool:
    """Whether a zip or manifest path could land outside its directory."""
    path = PurePosixPath(member.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (bool(path.parts) and ":" in path.parts[0])


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _scratch(dest_dir: Path, name: str) -> Iterator[Path]:
    """A temporary directory beside the target, so the final rename is atomic; always removed."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=dest_dir))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy(source: Path, archive: Path) -> str:
    """Copy a zip on disk into ``archive``; return its SHA-256."""
    if not source.is_file():
        raise ModelDownloadError(f"--from-file {source}: no such file (the model's .zip as downloaded)")
    digest = hashlib.sha256()
    with source.open("rb") as handle, archive.open("wb") as out:
        while chunk := handle.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, archive: Path, *, progress: bool, language: str = "nl") -> str:
    """Stream ``url`` into ``archive``; return the SHA-256 of what arrived."""
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=30.0) as response:
            if response.status_code != 200:
                raise ModelDownloadError(
                    f"Downloading {url} failed: HTTP {response.status_code} {response.reason_phrase}"
                )
            total = int(response.headers.get("content-length", 0)) or None
            with archive.open("wb") as out, _progress_bar(progress, archive.name, total) as advance:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
    except httpx.TransportError as exc:
        raise ModelDownloadError(
            f"cannot reach {url} ({exc or type(exc).__name__}): on a machine with internet, download that file and "
            f"run `ivr models download {language} --from-file <the .zip>` here (it is checked the same way), or set "
            "IVR_VOSK_MODEL to an unpacked model"
        ) from exc
    except httpx.HTTPError as exc:
        raise ModelDownloadError(f"Downloading {url} failed: {exc}") from exc
    return digest.hexdigest()


class _Advance:
    """Moves the progress bar on (or does nothing when there is none)."""

    def __init__(self, bar: Progress | None = None, task: TaskID | None = None) -> None:
        self._bar, self._task = bar, task

    def __call__(self, n: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=n)


@contextmanager
def _progress_bar(enabled: bool, label: str, total: int | None) -> Iterator[_Advance]:
    if not enabled:
        yield _Advance()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        yield _Advance(bar, bar.add_task(label, total=total))


def _extract(archive: Path, into: Path) -> Path:
    """Unpack every member after checking none escapes ``into``; return the model root inside it."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                if _unsafe(info.filename) or not (into / info.filename).resolve().is_relative_to(into.resolve()):
                    raise ModelDownloadError(f"{archive.name}: member {info.filename!r} would escape the model dir")
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ModelDownloadError(f"{archive.name}: member {info.filename!r} is a symbolic link")
            into.mkdir()
            for info in members:
                _extract_member(zf, info, into)
    except zipfile.BadZipFile as exc:
        raise ModelDownloadError(f"{archive.name}: not a valid zip file ({exc})") from exc
    # Official Vosk zips hold one top-level folder named after the model; accept a flat zip too.
    top = [p for p in into.iterdir() if not p.name.startswith("__MACOSX")]
    return top[0] if len(top) == 1 and top[0].is_dir() else into


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, into: Path) -> None:
    path = into / info.filename
    if info.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _install(root: Path, target: Path) -> None:
    """Move the verified model into place; an older copy is swapped out, then removed."""
    if not target.exists():
        os.replace(root, target)
        return
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(target, retired)
    os.replace(root, target)
    shutil.rmtree(retired, ignore_errors=True)
