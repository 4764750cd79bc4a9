"""The signature gate every Twilio webhook passes: parameters are only read once Twilio is proven the sender."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket

from ivr.deps import RuntimeDep
from ivr.runtime import Runtime

log = logging.getLogger(__name__)

XML = "application/xml"
#: WebSocket close code for a stream that may not go on (bad handshake, token or start)
POLICY_VIOLATION = 1008


async def verified_params(request: Request, runtime: RuntimeDep) -> dict[str, str]:
    """The request's form parameters, once the signature over public URL + parameters is proven Twilio's."""
    form = await request.form() if request.method == "POST" else {}
    params = {key: str(value) for key, value in form.items()}
    url = runtime.settings.url(request.url.path)
    if request.url.query:
        url = f"{url}?{request.url.query}"
    if not runtime.signatures.is_valid(url, params, request.headers.get("x-twilio-signature")):
        client = request.client.host if request.client else "?"
        log.warning("refused %s %s from %s: missing or invalid X-Twilio-Signature", request.method, url, client)
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return params


TwilioParams = Annotated[dict[str, str], Depends(verified_params)]


async def accept_twilio_socket(websocket: WebSocket, runtime: Runtime, url: str, what: str) -> bool:
    """Accept a WebSocket Twilio opened to ``url`` — only when the handshake carries Twilio's signature over it;
    otherwise it is refused before the upgrade (an HTTP 403) and logged."""
    if not runtime.signatures.is_valid(url, {}, websocket.headers.get("x-twilio-signature")):
        log.warning("refused %s handshake: missing or invalid X-Twilio-Signature", what)
        await websocket.close(code=POLICY_VIOLATION)
        return False
    await websocket.accept()
    return True
