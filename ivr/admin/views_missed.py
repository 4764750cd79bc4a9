"""Missed utterances: teach a wording (after a preview of what it changes), dismiss it, or undo a lesson.

Teaching is two steps on purpose. The preview replays the stored calls with the grammars as they would be and lists
the calls that would end differently, so a supervisor sees the effect before any caller does; a wording that answers
a grammar step (a plain "nee", a spoken number) is refused there with the reason. Every lesson is kept as a
:class:`ivr.store.models.Teaching`, so it can be undone: the example leaves the grammar and its turns return to
the list.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ivr.admin import missed as missed_store
from ivr.admin import queries
from ivr.admin.auth import Supervisor, Viewer
from ivr.admin.console import Console, ConsoleDep, EngineDep, RuntimeDep, StoreDep
from ivr.admin.grammar_feedback import (
    GrammarEditError,
    add_example,
    grammar_step_conflict,
    grammars_with,
    remove_example,
    with_example,
)
from ivr.admin.missed import MissedGroup
from ivr.admin.pages import render
from ivr.admin.replay import DryRun, compare_replays
from ivr.evaluation import Understander
from ivr.runtime import Runtime

log = logging.getLogger(__name__)

router = APIRouter()

#: stored calls replayed to preview a lesson
PREVIEW_CALLS = 200

Language = Annotated[str, Form(max_length=8)]
Key = Annotated[str, Form(max_length=1000)]
Intent = Annotated[str, Form(max_length=64)]


def _back(message: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/missed?{message}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/missed", response_class=HTMLResponse)
def missed(
    request: Request,
    user: Viewer,
    console: ConsoleDep,
    runtime: RuntimeDep,
    engine: EngineDep,
    added: str | None = None,
    undone: str | None = None,
    dismissed: str | None = None,
) -> HTMLResponse:
    return render(
        console,
        request,
        "missed.html",
        user,
        section="missed",
        groups=missed_store.missed_utterances(engine),
        set_aside=missed_store.missed_utterances(engine, dismissed=True),
        teachings=missed_store.recent_teachings(engine),
        intents={lang: list(flow.intents.labels) for lang, flow in runtime.flows.items()},
        added=added,
        undone=undone,
        dismissed=dismissed,
    )


def _group(console: Console, runtime: Runtime, engine: EngineDep, language: str, key: str, intent: str) -> MissedGroup:
    flow = runtime.flows.get(language)
    if flow is None or intent not in flow.intents.labels:
        raise HTTPException(422, f"choose what the caller meant: {intent!r} is no intent for language {language!r}")
    group = missed_store.missed_group(engine, language, key)
    if group is None:
        raise HTTPException(404, "these utterances were already taught, dismissed, or are gone")
    conflict = grammar_step_conflict(console.settings.grammars_dir, language, group.text)
    if conflict is not None:
        raise HTTPException(422, conflict)
    return group


def _preview(console: Console, runtime: Runtime, engine: EngineDep, group: MissedGroup, intent: str) -> DryRun | None:
    """Replay recent stored calls under the grammars as they are and as they would be; None: already an example."""
    grammars = console.settings.grammars_dir
    updated = with_example(grammars, group.language, intent, group.text)
    if updated is None:
        return None
    rules = runtime.rulebook.active
    before = console.understander(rules)
    with tempfile.TemporaryDirectory() as tmp:
        taught = grammars_with(grammars, group.language, updated, Path(tmp))
        after = Understander.load(console.settings.model_copy(update={"grammars_dir": taught}))
    after = Understander(dialogs=after.dialogs, lexicons=after.lexicons, rules=rules)
    return compare_replays(before, after, queries.calls_for_replay(engine, PREVIEW_CALLS))


@router.post("/missed/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    engine: EngineDep,
    language: Language,
    key: Key,
    intent: Intent = "",
) -> HTMLResponse:
    """What teaching this wording would change, before anything changes."""
    group = _group(console, runtime, engine, language, key, intent)
    try:
        dry = _preview(console, runtime, engine, group, intent)
    except GrammarEditError as exc:
        raise HTTPException(422, str(exc)) from exc
    return render(console, request, "missed_preview.html", user, section="missed", group=group, intent=intent, dry=dry)


@router.post("/missed/assign")
def assign(
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    engine: EngineDep,
    language: Language,
    key: Key,
    intent: Intent = "",
) -> Response:
    """Teach the machine: the group's wording becomes an example of ``intent`` and its turns are labelled."""
    group = _group(console, runtime, engine, language, key, intent)
    try:
        added = add_example(console.settings.grammars_dir, language, intent, group.text)
    except GrammarEditError as exc:
        raise HTTPException(422, str(exc)) from exc
    teaching = missed_store.record_teaching(
        engine, user.username, language, intent, group.text, group.turn_ids, added_example=added
    )
    _grammars_changed(console, runtime, language)
    store.audit(
        user.username,
        "grammar.add_example",
        f"{language}/{intent}",
        {"phrase": group.text, "turns": len(group.turn_ids), "new_example": added, "teaching": teaching.id},
    )
    log.info("%s taught %s/%s: %r (%d turns)", user.username, language, intent, group.text, len(group.turn_ids))
    return _back(f"added={intent}")


@router.post("/missed/undo")
def undo(
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    engine: EngineDep,
    teaching: Annotated[int, Form()],
) -> Response:
    """Take a lesson back: the example leaves the grammar (if the lesson added it) and its turns are missed again."""
    lesson = missed_store.undo_teaching(engine, teaching)
    if lesson is None:
        raise HTTPException(404, "nothing to undo: the lesson is unknown or already undone")
    removed = False
    if lesson.added_example:
        try:
            removed = remove_example(console.settings.grammars_dir, lesson.language, lesson.intent, lesson.phrase)
        except GrammarEditError as exc:
            raise HTTPException(422, str(exc)) from exc
    _grammars_changed(console, runtime, lesson.language)
    store.audit(
        user.username,
        "grammar.undo_example",
        f"{lesson.language}/{lesson.intent}",
        {"phrase": lesson.phrase, "teaching": lesson.id, "example_removed": removed},
    )
    return _back(f"undone={lesson.intent}")


@router.post("/missed/dismiss")
def dismiss(
    user: Supervisor,
    store: StoreDep,
    engine: EngineDep,
    language: Language,
    key: Key,
    restore: Annotated[bool, Form()] = False,
) -> Response:
    """Set a group aside (it teaches nothing), or put a set-aside group back on the list."""
    group = missed_store.missed_group(engine, language, key, dismissed=restore)
    if group is None:
        raise HTTPException(404, "these utterances were already handled, or are gone")
    missed_store.set_dismissed(engine, group.turn_ids, not restore)
    action = "missed.restore" if restore else "missed.dismiss"
    store.audit(user.username, action, language, {"phrase": group.text, "turns": len(group.turn_ids)})
    return _back("dismissed=0" if restore else "dismissed=1")


def _grammars_changed(console: Console, runtime: Runtime, language: str) -> None:
    console.grammars_changed()
    runtime.reload_language(language)  # the next call already understands (or no longer understands) the wording
