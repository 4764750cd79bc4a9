"""Logging in and out of the console."""

from __future__ import annotations

import hmac
import logging
import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ivr.admin.auth import CSRF_FIELD, Poster, check_password
from ivr.admin.console import Console, ConsoleDep, StoreDep
from ivr.admin.pages import render
from ivr.admin.sessions import ConsoleSession
from ivr.store.models import utcnow

log = logging.getLogger(__name__)

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only back into the console: an open redirect would let a phishing link borrow our login page."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return "/admin/live"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, console: ConsoleDep, next: str | None = None) -> Response:
    session = console.cookies.read(request)
    if session is None or session.username is not None:
        session = ConsoleSession.anonymous()
    response = render(console, request, "login.html", None, login_csrf=session.csrf, next=_safe_next(next))
    console.cookies.write(response, session)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    console: ConsoleDep,
    store: StoreDep,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=256)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    session = console.cookies.read(request)
    if session is None or not csrf_token or not hmac.compare_digest(session.csrf, csrf_token):
        fresh = ConsoleSession.anonymous()
        expired = "Your login form expired; please try again."
        response = _login_page(console, request, fresh, next, expired, status.HTTP_403_FORBIDDEN)
        console.cookies.write(response, fresh)
        return response
    address = request.client.host if request.client else "unknown"
    wait = console.throttle.retry_after(address, username)
    if wait is not None:
        log.warning("console login for %r from %s refused: too many failed attempts", username, address)
        store.audit(username.strip()[:64] or "?", "login.throttled", address)
        error = f"Too many failed attempts. Please try again in {math.ceil(wait / 60)} minute(s)."
        response = _login_page(console, request, session, next, error, status.HTTP_429_TOO_MANY_REQUESTS, username)
        response.headers["Retry-After"] = str(wait)
        return response
    role = check_password(store, username.strip(), password)
    if role is None:
        console.throttle.failed(address, username)
        log.warning("console login failed for %r from %s", username, address)
        store.audit(username.strip()[:64] or "?", "login.failed", address)
        error = "Wrong user name or password."
        return _login_page(console, request, session, next, error, status.HTTP_401_UNAUTHORIZED, username)
    console.throttle.succeeded(address, username)
    store.audit(username.strip(), "login", address, {"role": role})
    redirect = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    console.cookies.write(redirect, ConsoleSession.for_user(username.strip()))
    return redirect


def _login_page(
    console: Console,
    request: Request,
    session: ConsoleSession,
    next: str,
    error: str,
    status_code: int,
    username: str = "",
) -> Response:
    """The login form again, with why the last attempt did not get in."""
    return render(
        console,
        request,
        "login.html",
        None,
        login_csrf=session.csrf,
        next=_safe_next(next),
        error=error,
        username=username,
        status_code=status_code,
    )


@router.post("/logout")
def logout(user: Poster, console: ConsoleDep, store: StoreDep) -> Response:
    """End the session for good: the cookie is cleared, and its token revoked, so a copy of it is worthless too."""
    store.revoke_session(user.csrf, utcnow() + timedelta(seconds=console.settings.session_max_age_s))
    store.audit(user.username, "logout")
    response = RedirectResponse("/admin/login", status_code=status.HTTP_303_SEE_OTHER)
    console.cookies.clear(response)
    return response
