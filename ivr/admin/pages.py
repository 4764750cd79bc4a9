"""Rendering console pages: every template gets the user, their CSRF token and the navigation."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from ivr.admin.auth import CSRF_FIELD, ConsoleUser
from ivr.admin.console import Console
from ivr.web_security import CONSOLE_HEADERS

NAV = (
    ("live", "/admin/live", "Live calls"),
    ("calls", "/admin/calls", "Calls"),
    ("rules", "/admin/rules/cards", "Transfer rules"),
    ("dashboard", "/admin/dashboard", "Dashboard"),
    ("missed", "/admin/missed", "Missed utterances"),
    ("audit", "/admin/audit", "Audit log"),
)


def render(
    console: Console,
    request: Request,
    template: str,
    user: ConsoleUser | None,
    *,
    section: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "local_time": partial(local_time, zone=zone_of(request)),
        "epoch_time": partial(epoch_time, zone=zone_of(request)),
        "step_labels": STEP_LABELS,
        "user": user,
        "csrf": user.csrf if user is not None else "",
        "csrf_field": CSRF_FIELD,
        "nav": NAV,
        "section": section,
        "company": console.settings.company_name,
        **{k: v for k, v in context.items() if k != "local_time"},
    }
    return console.templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=CONSOLE_HEADERS
    )


DEFAULT_ZONE = "Europe/Amsterdam"


def local_time(moment: datetime | None, zone: str = DEFAULT_ZONE, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Times are stored in UTC; supervisors read them in the rules' timezone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)


def zone_of(request: Request) -> str:
    """The rules' timezone: the one supervisors think in (time-of-day rules use it too)."""
    runtime = getattr(request.app.state, "runtime", None)
    return runtime.rulebook.active.timezone if runtime is not None else DEFAULT_ZONE


def epoch_time(seconds: float | None, zone: str = DEFAULT_ZONE, fmt: str = "%H:%M:%S") -> str:
    """A moment kept as Unix time (a transfer's steps), as a wall-clock time in the supervisors' zone."""
    if seconds is None:
        return ""
    return local_time(datetime.fromtimestamp(float(seconds), UTC), zone, fmt)


#: what each step of reaching a person means, in the supervisors' words
STEP_LABELS = {
    "queued": "caller on hold",
    "dialled": "ringing",
    "answered": "picked up, hears the summary",
    "machine": "voicemail or machine answered (summary not played)",
    "accepted": "accepted (pressed 1)",
    "declined": "declined",
    "no_key": "pressed nothing in time",
    "busy": "busy",
    "no-answer": "no answer",
    "failed": "could not be rung",
    "canceled": "ringing stopped",
    "unreachable": "nobody reached: caller heard the offer",
    "abandoned": "caller hung up while waiting",
    "bridged": "caller and colleague connected",
    "back_to_bot": "caller went back to Warmline",
}
