"""Who may do what in the console: logged-in users look, supervisors change, and every change carries the session's
CSRF token (a hidden form field, or the ``X-CSRF-Token`` header for scripts).

Pages answer an anonymous visitor with a redirect to the login form; the JSON and event-stream endpoints under
``/admin/api/`` answer 401, since a redirect means nothing to a script.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from ivr.admin.console import ConsoleDep, StoreDep
from ivr.store.repository import Store

Role = Literal["supervisor", "viewer"]
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    username: str
    role: Role
    csrf: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def check_password(store: Store, username: str, password: str) -> Role | None:
    """The user's role when the password is right, else None (argon2, via the store)."""
    user = store.verify_user(username, password)
    return _role(user.role) if user is not None else None


def _role(value: str | None) -> Role | None:
    if value == "supervisor":
        return "supervisor"
    if value == "viewer":
        return "viewer"
    return None


def _role_of(store: Store, username: str) -> Role | None:
    user = store.get_user(username)
    return _role(user.role) if user is not None else None


def _login_required(request: Request) -> HTTPException:
    if request.url.path.startswith("/admin/api/"):
        return HTTPException(status.HTTP_401_UNAUTHORIZED, "log in to the console first")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, "log in first", headers={"Location": f"/admin/login?next={quote(target)}"}
    )


def current_user(request: Request, console: ConsoleDep, store: StoreDep) -> ConsoleUser:
    """The logged-in user, with the role the store gives them now."""
    session = console.cookies.read(request)
    if session is None or session.username is None or store.is_revoked(session.csrf):
        raise _login_required(request)
    role = _role_of(store, session.username)
    if role is None:
        raise _login_required(request)
    return ConsoleUser(session.username, role, session.csrf)


Viewer = Annotated[ConsoleUser, Depends(current_user)]


async def csrf_checked(request: Request, user: Viewer) -> ConsoleUser:
    """A state-changing request must carry the session's token; another site's form cannot know it."""
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not token or not hmac.compare_digest(token, user.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page and try again")
    return user


Poster = Annotated[ConsoleUser, Depends(csrf_checked)]


def _supervisor(user: ConsoleUser) -> ConsoleUser:
    if not user.is_supervisor:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only supervisors can change this")
    return user


def supervisor_only(user: Poster) -> ConsoleUser:
    return _supervisor(user)


def supervisor_page(user: Viewer) -> ConsoleUser:
    """A page only a supervisor needs (e.g. confirming a change); reading it changes nothing, so no CSRF token."""
    return _supervisor(user)


Supervisor = Annotated[ConsoleUser, Depends(supervisor_only)]
SupervisorPage = Annotated[ConsoleUser, Depends(supervisor_page)]
