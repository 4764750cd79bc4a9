"""Operations endpoints: reload the transfer rules on demand, see which version is in force.

Protected by a bearer token (``IVR_ADMIN_TOKEN``); without one configured they are switched off, never open.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel

from ivr.deps import RuntimeDep
from ivr.rules.loader import RulesError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ops", tags=["ops"])


def require_admin(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = runtime.settings.admin_token
    if token is None:
        raise HTTPException(status_code=404, detail="ops endpoints are off (set IVR_ADMIN_TOKEN)")
    expected = f"Bearer {token.get_secret_value()}"
    if authorization is None or not hmac.compare_digest(authorization, expected):
        raise HTTPException(status_code=401, detail="bearer token required")


Admin = Annotated[None, Depends(require_admin)]


class RulesStatus(BaseModel):
    version: int
    sha256: str
    loaded_at: str
    rules: int
    error: str | None = None


def _status(runtime: RuntimeDep, error: str | None = None) -> RulesStatus:
    version = runtime.rulebook.version
    return RulesStatus(
        version=version.number,
        sha256=version.sha256,
        loaded_at=version.loaded_at.isoformat(),
        rules=version.rules,
        error=error,
    )


@router.get("/rules", response_model=RulesStatus)
async def rules_status(_: Admin, runtime: RuntimeDep) -> RulesStatus:
    error = runtime.rulebook.last_error
    return _status(runtime, str(error) if error else None)


@router.post("/rules/reload", response_model=RulesStatus)
async def reload_rules(_: Admin, runtime: RuntimeDep) -> RulesStatus:
    """Re-read the rules file now. A bad file answers 422 with file, line and reason; the old rules stay."""
    try:
        await asyncio.to_thread(runtime.rulebook.reload)
    except RulesError as exc:
        log.error("rules reload refused: %s", exc)
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _status(runtime)


class DrainStatus(BaseModel):
    draining: bool
    live_calls: int
    timeout_s: float


@router.post("/drain", response_model=DrainStatus, status_code=202)
async def drain(_: Admin, runtime: RuntimeDep) -> DrainStatus:
    """Start draining this instance for a deploy, like SIGTERM: no new calls, live ones finish (or are handed over
    after IVR_DRAIN_TIMEOUT_S), then the process exits 0."""
    runtime.drain.request(runtime.settings.drain_timeout_s)
    return DrainStatus(
        draining=runtime.drain.active or runtime.drain.exit_after is not None,
        live_calls=len(runtime.drain.sessions),
        timeout_s=runtime.settings.drain_timeout_s,
    )
