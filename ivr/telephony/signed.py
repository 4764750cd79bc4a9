"""The signature gate every Twilio webhook passes: parameters are only read once Twilio is proven the sender."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ivr.deps import RuntimeDep

log = logging.getLogger(__name__)

XML = "application/xml"


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
