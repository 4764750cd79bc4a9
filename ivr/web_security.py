"""What every HTML page we serve may do in a browser, and which links from data may become links.

Console pages load their one stylesheet and script from ``/admin/static`` (no inline code at all); the agent page
is a single self-contained document whose one ``<style>`` and one ``<script>`` (the live stream) carry a
per-response nonce. Neither may be framed,
cached, or leak its URL — the agent page's URL is a signed link — through the Referer header.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

_COMMON = {
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

CONSOLE_HEADERS = {
    **_COMMON,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}


def agent_page_headers(nonce: str) -> dict[str, str]:
    """Headers for the agent page, whose only inline code is its ``<style nonce=…>`` and ``<script nonce=…>``."""
    return {
        **_COMMON,
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; connect-src 'self'; "
            "media-src 'self'; img-src 'self'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
        ),
    }


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def safe_url(value: object) -> str:
    """The URL when it is http(s), else an empty string: a ``javascript:`` or ``data:`` URL stored in a row
    (a recording URL from a webhook, say) must never become a clickable link."""
    text = str(value or "").strip()
    return text if urlsplit(text).scheme.lower() in ("http", "https") else ""
