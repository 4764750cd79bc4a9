"""Addresses Twilio and colleagues fetch during a transfer: our rendered prompts and the signed summary audio."""

from __future__ import annotations

from urllib.parse import quote

from ivr.runtime import Runtime
from ivr.transfer.links import sign_link

#: how long a signed audio or agent link stays valid
LINK_TTL_S = 24 * 3600


def prompt_audio_url(runtime: Runtime, language: str, key: str) -> str:
    return runtime.settings.url(f"/audio/prompts/{language}/{quote(key)}.wav")


def agent_page_url(runtime: Runtime, transfer_id: str) -> str:
    return sign_link(runtime.settings.public_url, transfer_id, runtime.settings.auth_token, LINK_TTL_S)


def summary_audio_url(runtime: Runtime, transfer_id: str) -> str:
    """The spoken summary, under the same signature as the agent page: both are for the colleague's ears only."""
    query = agent_page_url(runtime, transfer_id).split("?", 1)[1]
    return runtime.settings.url(f"/audio/summaries/{quote(transfer_id, safe='')}?{query}")
