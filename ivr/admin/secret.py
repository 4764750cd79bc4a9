"""The key that signs console session cookies.

A deployment may set ``IVR_SESSION_SECRET``; otherwise one is generated the first time and kept in the data dir, so
logins survive a restart and every worker process of one deployment signs with the same key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ivr.config import Settings

SECRET_FILE = "session_secret"


def session_secret(settings: Settings) -> str:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    return _create(path)


def _create(path: Path) -> str:
    """Write a new secret readable by this user only; if another worker won the race, use theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(value + "\n")
    return value
