"""The recogniser's search width: a narrower beam decodes each second of speech with less work, at some accuracy.

Vosk reads its decoder's search settings (``--beam``, ``--max-active``) from the model's ``conf/model.conf`` and
offers no API for them. To change them without touching the downloaded model (its files are checked against a
manifest), Warmline builds a *view* of the model: a directory of links to the model's files with its own
``conf/model.conf``. The view is rebuilt whenever the settings or the model's own configuration change, and built
beside its final place and renamed into it, so a half-built view is never loaded.

Throughput per decode thread is what limits calls per machine (bench/README.md, "What breaks at 48 calls");
accuracy against the search width can only be measured with a model of the callers' language, which this repository
cannot ship — measure it on your own recordings before narrowing the beam in production.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_CONF = Path("conf") / "model.conf"
_OPTIONS = ("--beam", "--max-active")


def search_conf(original: str, beam: float | None, max_active: int | None) -> str:
    """``model.conf`` with the beam and the active-state limit replaced (the other options kept as they are)."""
    wanted = {"--beam": beam, "--max-active": max_active}
    lines = [line for line in original.splitlines() if not any(_is_option(line, o) for o in _OPTIONS if wanted[o])]
    if beam is not None:
        lines.append(f"--beam={beam:g}")
    if max_active is not None:
        lines.append(f"--max-active={max_active}")
    return "\n".join(lines) + "\n"


def _is_option(line: str, option: str) -> bool:
    return line.strip().startswith(f"{option}=")


def model_with_search(model: Path, views_dir: Path, beam: float | None, max_active: int | None) -> Path:
    """The model to load: ``model`` itself when neither setting is given, else a view of it with those settings."""
    if beam is None and max_active is None:
        return model
    original = (model / _CONF).read_text(encoding="utf-8") if (model / _CONF).is_file() else ""
    conf = search_conf(original, beam, max_active)
    digest = hashlib.sha256(f"{model.resolve()}\n{conf}".encode()).hexdigest()[:12]
    view = views_dir / f"{model.name}-search-{digest}"
    if (view / _CONF).is_file() and (view / _CONF).read_text(encoding="utf-8") == conf:
        return view
    views_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{view.name}-", dir=views_dir))
    try:
        for item in model.resolve().iterdir():
            if item.name != "conf":
                (building / item.name).symlink_to(item)
        (building / "conf").mkdir()
        if (model / "conf").is_dir():
            for item in (model / "conf").resolve().iterdir():
                if item.name != "model.conf":
                    (building / "conf" / item.name).symlink_to(item)
        (building / _CONF).write_text(conf, encoding="utf-8")
        if view.exists():
            shutil.rmtree(view)
        os.replace(building, view)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return view
