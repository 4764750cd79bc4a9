"""Rules published on one instance become active on all of them, through Redis pub/sub (no file polling).

A supervisor reaches whichever instance the load balancer picks. That instance writes its rules file, reloads, and
publishes the accepted text on a channel; every other instance writes the text to its own rules file and reloads it
(the same validation; a text it refuses leaves its last good rules active and is logged). The latest text is also kept
under a key, so an instance that starts (or reconnects) later takes the rules the others run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

if TYPE_CHECKING:
    from ivr.call.shared import Redis

log = logging.getLogger(__name__)

#: a message is the rules text plus a few fields; larger is refused rather than read into memory
MAX_MESSAGE_BYTES = 1_000_000


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RulesChannel:
    """Announce accepted rules to the other instances, and take theirs (see the module docstring)."""

    def __init__(self, client: Redis, url: str, instance_id: str, prefix: str = "warmline:") -> None:
        self._client = client
        self._url = url
        self._instance = instance_id
        self.channel = f"{prefix}rules"
        self.latest_key = f"{prefix}rules:latest"

    def publish(self, text: str) -> int:
        """Tell every instance; returns how many listened."""
        message = json.dumps({"from": self._instance, "sha256": sha256(text), "text": text})
        self._client.set(self.latest_key, message)
        return int(self._client.publish(self.channel, message))

    async def listen(self, apply: Callable[[str], None], active_sha: Callable[[], str]) -> None:
        """Apply rules published by other instances until cancelled; reconnects after a Redis outage."""
        while True:
            client = aioredis.Redis.from_url(self._url, decode_responses=True)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Whatever was published while this instance was away (or before it started).
                    missed = await client.get(self.latest_key)
                    if missed:
                        await self._take(str(missed), apply, active_sha, from_self_too=True)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._take(str(message["data"]), apply, active_sha)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("rules channel lost (%s); reconnecting in 2 s", exc)
                await asyncio.sleep(2)
            finally:
                await client.aclose()

    async def _take(
        self, message: str, apply: Callable[[str], None], active_sha: Callable[[], str], from_self_too: bool = False
    ) -> None:
        if len(message) > MAX_MESSAGE_BYTES:
            log.error("rules message of %d bytes refused", len(message))
            return
        try:
            raw = json.loads(message)
            text, sender, sha = str(raw["text"]), str(raw["from"]), str(raw["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("malformed rules message skipped: %s", exc)
            return
        if (sender == self._instance and not from_self_too) or sha == active_sha():
            return
        try:
            await asyncio.to_thread(apply, text)
        except Exception as exc:
            log.error("rules published by %s refused here; the previous rules stay active: %s", sender, exc)
            return
        log.info("rules published by %s now active here (%s)", sender, sha[:12])
