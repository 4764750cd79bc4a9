"""What the calls show: the dashboard's charts and the audit log (missed utterances: ``views_missed``)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ivr.admin import charts, queries
from ivr.admin.auth import Viewer
from ivr.admin.console import ConsoleDep, EngineDep, StoreDep
from ivr.admin.pages import local_time, render, zone_of

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, console: ConsoleDep, engine: EngineDep) -> HTMLResponse:
    data = queries.dashboard(engine)
    labels = [local_time(h.hour, zone=zone_of(request), fmt="%H:00") for h in data.hours]
    figures = {
        "calls": charts.bar_chart(
            labels, [h.calls for h in data.hours], "Calls per hour", x_title="hour started", y_title="calls"
        ),
        "confidence": charts.line_chart(
            labels,
            [("mean recognition confidence", [h.mean_confidence for h in data.hours])],
            "Recognition",
            x_title="hour",
            y_title="confidence (0–1)",
        ),
        "distress": charts.line_chart(
            labels,
            [
                ("mean distress", [h.mean_distress for h in data.hours]),
                ("highest", [h.max_distress for h in data.hours]),
            ],
            "Distress over time",
            x_title="hour",
            y_title="distress (0–1)",
        ),
        "reasons": charts.hbar_chart(
            [(queries.reason_label(name), count) for name, count in data.transfers_by_reason], "Transfers by reason"
        ),
    }
    return render(console, request, "dashboard.html", user, section="dashboard", data=data, figures=figures)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, user: Viewer, console: ConsoleDep, store: StoreDep) -> HTMLResponse:
    """Who changed what: rules published and rolled back, phrases taught, users added."""
    entries = store.list_audit(limit=200)
    return render(console, request, "audit.html", user, section="audit", entries=entries)
