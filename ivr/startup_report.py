"""The one summary a server prints when it is ready: what runs, where, and what an operator should fix.

A person starting Warmline should see in a few lines which model, database, rules and URLs are in force, and be
warned — not silently served — when a secret is a placeholder or a default that only suits a laptop.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from ivr import __version__
from ivr.config import DEV_AUTH_TOKEN, Settings

log = logging.getLogger("ivr")

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def startup_warnings(settings: Settings) -> list[str]:
    """What a production deployment must not keep."""
    warnings: list[str] = []
    public = urlsplit(settings.public_url)
    local = (public.hostname or "") in _LOCAL_HOSTS
    if settings.auth_token == DEV_AUTH_TOKEN:
        warnings.append(
            "IVR_TWILIO_AUTH_TOKEN is the local development token: set your Twilio account's auth token"
            + ("" if local else " — signatures from Twilio will be refused until you do")
        )
    if not local and public.scheme != "https":
        warnings.append(f"IVR_PUBLIC_URL {settings.public_url} is not https: calls' webhooks and audio go unencrypted")
    if settings.admin_token is None:
        warnings.append("IVR_ADMIN_TOKEN is not set: the /ops endpoints are closed to everyone")
    if settings.session_secret is None and not local:
        warnings.append(
            f"IVR_SESSION_SECRET is not set: console logins are signed with a key kept in {settings.data_dir}; "
            "give every instance the same IVR_SESSION_SECRET"
        )
    return warnings


def startup_summary(
    settings: Settings, *, model: str, model_seconds: float, rules_version: int, rules_count: int
) -> list[str]:
    """The lines of the ready message."""
    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    agent = settings.agent_language or settings.language
    lines = [
        f"Warmline {__version__} ready",
        f"  language      {settings.language} (agent summaries in {agent})",
        f"  model         {model}, loaded in {model_seconds:.1f} s",
        f"  database      {database}",
        f"  rules         version {rules_version} ({rules_count} rules) from {settings.rules_file}",
        f"  public URL    {settings.public_url}  (Twilio voice webhook: {settings.url('/twilio/voice')})",
        f"  console       {settings.url('/admin/')}",
    ]
    lines += [f"  WARNING       {warning}" for warning in startup_warnings(settings)]
    return lines


def announce(lines: list[str]) -> None:
    """Log the summary, making sure it is seen even when only uvicorn configured logging."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    for line in lines:
        (log.warning if "WARNING" in line else log.info)(line)
