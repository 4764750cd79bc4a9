"""Console sessions in a signed cookie: who is logged in and the CSRF token of that session.

The cookie holds no secrets worth stealing (a user name and a random token) but is signed, so it cannot be forged;
HttpOnly keeps scripts away from it, SameSite=Lax keeps other sites' forms from riding on it, and it is Secure
whenever the console is served over https. The role is *not* in the cookie: it is read from the store on every
request, so demoting or removing a user takes effect at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "warmline_console"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """``username`` is None before login: the anonymous session only carries the login form's CSRF token."""

    csrf: str
    username: str | None = None

    @classmethod
    def anonymous(cls) -> ConsoleSession:
        return cls(csrf=secrets.token_urlsafe(32))

    @classmethod
    def for_user(cls, username: str) -> ConsoleSession:
        """A fresh token at login, so a token seen before login is worthless after it."""
        return cls(csrf=secrets.token_urlsafe(32), username=username)


class SessionCookies:
    def __init__(self, secret: str, max_age_s: int, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="warmline-console-session")
        self._max_age_s = max_age_s
        self._secure = secure

    def read(self, request: Request) -> ConsoleSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self._max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        username = data.get("u")
        return ConsoleSession(csrf=data["csrf"], username=username if isinstance(username, str) else None)

    def write(self, response: Response, session: ConsoleSession) -> None:
        response.set_cookie(
            COOKIE,
            self._serializer.dumps({"csrf": session.csrf, "u": session.username}),
            max_age=self._max_age_s,
            path="/admin",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="lax", secure=self._secure)
