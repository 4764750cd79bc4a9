"""What the calls teach: the dashboard's charts, and missed utterances that supervisors turn into grammar examples."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ivr.admin import charts, queries
from ivr.admin.auth import Supervisor, Viewer
from ivr.admin.console import ConsoleDep, EngineDep, RuntimeDep, StoreDep
from ivr.admin.grammar_feedback import GrammarEditError, add_example
from ivr.admin.pages import local_time, render, zone_of

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, console: ConsoleDep, engine: EngineDep) -> HTMLResponse:
    data = queries.dashboard(engine)
    labels = [local_time(h.hour, zone=zone_of(request), fmt="%H:00") for h in data.hours]
    figures = {
        "calls": charts.bar_chart(labels, [h.calls for h in data.hours], "Calls per hour"),
        "confidence": charts.line_chart(
            labels, [("mean recognition confidence", [h.mean_confidence for h in data.hours])], "Recognition"
        ),
        "distress": charts.line_chart(
            labels,
            [
                ("mean distress", [h.mean_distress for h in data.hours]),
                ("highest", [h.max_distress for h in data.hours]),
            ],
            "Distress over time",
        ),
        "reasons": charts.hbar_chart(data.transfers_by_reason, "Transfers by reason"),
    }
    return render(console, request, "dashboard.html", user, section="dashboard", data=data, figures=figures)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, user: Viewer, console: ConsoleDep, store: StoreDep) -> HTMLResponse:
    """Who changed what: rules published and rolled back, phrases taught, users added."""
    entries = store.list_audit(limit=200)
    return render(console, request, "audit.html", user, section="audit", entries=entries)


@router.get("/missed", response_class=HTMLResponse)
def missed(
    request: Request,
    user: Viewer,
    console: ConsoleDep,
    runtime: RuntimeDep,
    engine: EngineDep,
    added: str | None = None,
) -> HTMLResponse:
    groups = queries.missed_utterances(engine)
    intents = {lang: list(flow.intents.labels) for lang, flow in runtime.flows.items()}
    return render(
        console,
        request,
        "missed.html",
        user,
        section="missed",
        groups=groups,
        intents=intents,
        added=added,
    )


@router.post("/missed/assign")
def assign(
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    language: Annotated[str, Form(max_length=8)],
    key: Annotated[str, Form(max_length=1000)],
    intent: Annotated[str, Form(max_length=64)],
) -> Response:
    """Teach the machine: the group's wording becomes an example of ``intent`` and its turns are labelled."""
    flow = runtime.flows.get(language)
    if flow is None or intent not in flow.intents.labels:
        raise HTTPException(422, f"unknown intent {intent!r} for language {language!r}")
    group = queries.missed_group(store.engine, language, key)
    if group is None:
        raise HTTPException(404, "these utterances were already assigned or are gone")
    try:
        added = add_example(console.settings.grammars_dir, language, intent, group.text)
    except GrammarEditError as exc:
        raise HTTPException(422, str(exc)) from exc
    labelled = queries.assign_intent(store.engine, group.turn_ids, intent)
    console.grammars_changed()
    runtime.reload_language(language)  # the next call already understands this wording
    store.audit(
        user.username,
        "grammar.add_example",
        f"{language}/{intent}",
        {"phrase": group.text, "turns": labelled, "new_example": added},
    )
    log.info("%s taught %s/%s: %r (%d turns)", user.username, language, intent, group.text, labelled)
    return RedirectResponse(f"/admin/missed?added={intent}", status_code=status.HTTP_303_SEE_OTHER)
