"""Trained understanding models kept on disk between starts, so a server (or a test's server process) does not
fit the same logistic regression again.

Fitting both languages' intent and calm/upset models is most of a start-up (~2–4 s of CPU on two cores), and it
yields the same weights every time for the same training sentences. A model is stored under the digest of
everything it learned from (see :func:`ivr.signals.learned.train`), and that digest also covers the code that turns
words into features and the versions of the libraries doing the arithmetic: a changed grammar, feature or library
is a new file, never a stale one.

The files are plain numpy arrays (no pickle: a cache directory must not be a way to run code), written atomically
(several instances may start at once), and the directory keeps only the most recently used files.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path
from typing import Any, cast

import numpy as np

from ivr.config import default_understanding_cache
from ivr.files import write_atomically

log = logging.getLogger(__name__)

#: files kept; each training set a supervisor teaches and each cross-validation fold makes one (a few MB each)
MAX_FILES = 48
_SUFFIX = ".npz"


_lock = threading.Lock()
#: until a program configures it from its settings (IVR_UNDERSTANDING_CACHE_DIR), the settings' default
_directory: Path | None = default_understanding_cache()


def configure(directory: Path | None) -> None:
    """Where this process keeps trained models (None: train at every start, keep nothing)."""
    global _directory
    with _lock:
        _directory = directory


def directory() -> Path | None:
    with _lock:
        return _directory


def load(digest: str) -> dict[str, np.ndarray[Any, Any]] | None:
    """The arrays stored under ``digest``, or None when there are none (or they cannot be read: then the model is
    trained again and the file replaced, never trusted half-read)."""
    folder = directory()
    if folder is None:
        return None
    path = folder / f"{digest}{_SUFFIX}"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        os.utime(path)  # most recently used: pruning keeps it
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        log.warning("trained model %s is unreadable (%s): training it again", path, exc)
        return None
    return arrays


def save(digest: str, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
    """Store ``arrays`` under ``digest``. A directory that cannot be written costs the next start a fit, nothing
    more, so failures are logged, not raised."""
    folder = directory()
    if folder is None:
        return
    buffer = io.BytesIO()
    np.savez(buffer, **cast("dict[str, Any]", arrays))  # (numpy types the names as options)
    try:
        write_atomically(folder / f"{digest}{_SUFFIX}", buffer.getvalue())
        _prune(folder)
    except OSError as exc:
        log.warning("cannot keep the trained model in %s (%s): the next start trains it again", folder, exc)


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_FILES` most recently used files."""
    files = []
    for path in folder.glob(f"*{_SUFFIX}"):  # (a file being written ends in random letters, not the suffix)
        try:
            files.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # another process pruned it
            continue
    files.sort(reverse=True)
    for _, path in files[MAX_FILES:]:
        path.unlink(missing_ok=True)
