"""Shared by the console tests: an app on temp copies of the rules and grammars, users, and logging in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from ivr.config import REPO_ROOT, Settings

SUPERVISOR = ("sanne", "supervisor-password-1")
VIEWER = ("victor", "viewer-password-1")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(tmp: Path, **values: object) -> Settings:
    """Settings whose rules file and grammars are temp copies, so publishing and teaching write nothing real."""
    shutil.copy(REPO_ROOT / "rules.yaml", tmp / "rules.yaml")
    shutil.copytree(REPO_ROOT / "grammars", tmp / "grammars")
    return Settings(
        data_dir=tmp / "data",
        audio_cache_dir=tmp / "cache",
        rules_file=tmp / "rules.yaml",
        grammars_dir=tmp / "grammars",
        **values,  # type: ignore[arg-type]
    )


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def log_in(client: TestClient, username: str, password: str) -> str:
    """Log in through the form; returns the session's CSRF token (from the page the login lands on)."""
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text), "next": "/admin/rules"},
    )
    assert response.status_code == 200 and "Transfer rules" in response.text, response.text[:500]
    return csrf_of(response.text)
