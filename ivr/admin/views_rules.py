"""The transfer rules editor: check a draft line by line, try a sentence, dry-run it over stored calls, publish it,
and see or roll back earlier versions.

Publishing writes the rules file (atomically) and reloads the server's RuleBook at once; the store keeps every
published text as a version with its author, and the audit log says who changed what.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ivr.admin import queries
from ivr.admin.auth import ConsoleUser, Poster, Supervisor, SupervisorPage, Viewer
from ivr.admin.console import Console, ConsoleDep, EngineDep, RuntimeDep, StoreDep
from ivr.admin.pages import render
from ivr.admin.replay import DryRun, dry_run
from ivr.admin.rules_editor import (
    DraftCheck,
    annotate,
    check_draft,
    diff,
    normalise_newlines,
)
from ivr.config import Language
from ivr.evaluation import Classification
from ivr.files import write_atomically
from ivr.rules.loader import RulesError
from ivr.runtime import Runtime
from ivr.store.repository import RuleSource, Store

log = logging.getLogger(__name__)

router = APIRouter()

MAX_RULES_CHARS = 200_000
#: one publish at a time per process: write, reload and record belong together
_publishing = threading.Lock()
DEFAULT_DRY_RUN_CALLS = 50

Text = Annotated[str, Form(max_length=MAX_RULES_CHARS)]


def _known_intents(runtime: Runtime) -> set[str]:
    return {label for flow in runtime.flows.values() for label in flow.intents.labels}


def _active_text(runtime: Runtime) -> str:
    return runtime.rulebook.path.read_text(encoding="utf-8")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class EditorState:
    text: str
    check: DraftCheck
    sentence: str = ""
    language: Language = "nl"
    tried: Classification | None = None
    tried_under: str = ""
    dry: DryRun | None = None
    last: int = DEFAULT_DRY_RUN_CALLS
    message: str = ""


def _page(
    console: Console, request: Request, user: ConsoleUser, runtime: Runtime, state: EditorState, status_code: int = 200
) -> HTMLResponse:
    active = runtime.rulebook.version
    return render(
        console,
        request,
        "rules.html",
        user,
        section="rules",
        status_code=status_code,
        state=state,
        lines=annotate(state.text, state.check.problems),
        active=active,
        changed=_sha(normalise_newlines(state.text)) != _sha(_active_text(runtime)),
        languages=list(runtime.flows),
    )


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request, user: Viewer, console: ConsoleDep, runtime: RuntimeDep, published: int | None = None
) -> HTMLResponse:
    text = _active_text(runtime)
    state = EditorState(text=text, check=check_draft(text, _known_intents(runtime)))
    if published is not None:
        state.message = f"Version {published} published and active."
    return _page(console, request, user, runtime, state)


@router.post("/rules/check", response_class=HTMLResponse)
def check(request: Request, user: Poster, console: ConsoleDep, runtime: RuntimeDep, text: Text) -> HTMLResponse:
    state = EditorState(text=text, check=check_draft(text, _known_intents(runtime)))
    state.message = "The draft is valid." if state.check.ok else ""
    return _page(console, request, user, runtime, state, 200 if state.check.ok else 422)


@router.post("/rules/try", response_class=HTMLResponse)
def try_sentence(
    request: Request,
    user: Poster,
    console: ConsoleDep,
    runtime: RuntimeDep,
    text: Text,
    sentence: Annotated[str, Form(max_length=1000)],
    language: Annotated[Language, Form()] = "nl",
) -> HTMLResponse:
    """Classify a sentence as a caller's first turn under the draft (or, if the draft is broken, the active rules)."""
    state = EditorState(text=text, check=check_draft(text, _known_intents(runtime)), sentence=sentence)
    state.language = language
    rules = state.check.rules or runtime.rulebook.active
    state.tried_under = "the draft" if state.check.rules is not None else "the active rules (the draft has problems)"
    if sentence.strip():
        state.tried = console.understander(rules).classify(sentence.strip(), language)
    return _page(console, request, user, runtime, state)


@router.post("/rules/dry-run", response_class=HTMLResponse)
def dry_run_page(
    request: Request,
    user: Poster,
    console: ConsoleDep,
    runtime: RuntimeDep,
    engine: EngineDep,
    text: Text,
    last: Annotated[int, Form(ge=1, le=1000)] = DEFAULT_DRY_RUN_CALLS,
) -> HTMLResponse:
    """Replay the last ``last`` stored calls under the active rules and under the draft; list what would change."""
    state = EditorState(text=text, check=check_draft(text, _known_intents(runtime)), last=last)
    if state.check.rules is None:
        state.message = "Fix the problems below before a dry run."
        return _page(console, request, user, runtime, state, 422)
    active = runtime.rulebook.active
    calls = queries.calls_for_replay(engine, last)
    state.dry = dry_run(console.understander(active), active, state.check.rules, calls)
    return _page(console, request, user, runtime, state)


def _publish(store: Store, runtime: Runtime, text: str, user: ConsoleUser, source: RuleSource, note: str) -> int:
    """Write, reload, record. The file's current text is stored first if the store has not seen it (a hand edit),
    so a rollback can always return to it."""
    with _publishing:
        return _publish_locked(store, runtime, text, user, source, note)


def _publish_locked(store: Store, runtime: Runtime, text: str, user: ConsoleUser, source: RuleSource, note: str) -> int:
    current = _active_text(runtime)
    store.save_rule_version(current, author="", source="file", note="text on disk before a console change", dedupe=True)
    # Recorded before the file is written, so the RuleBook's own "file changed" record finds it and adds no twin.
    version = store.save_rule_version(text, author=user.username, source=source, note=note)
    write_atomically(runtime.rulebook.path, text)
    try:
        book_version = runtime.rulebook.reload()
    except RulesError:
        write_atomically(runtime.rulebook.path, current)  # the file and the active rules must not disagree
        runtime.rulebook.reload()
        raise
    store.audit(
        user.username,
        "rules.publish" if source == "console" else "rules.rollback",
        f"rules v{version.id}",
        {"sha256": version.sha256, "rulebook_version": book_version.number, "note": note},
    )
    if runtime.rules_channel is not None:
        runtime.rules_channel.publish(text)  # the other instances take it too
    log.info("rules version %s published by %s (%s)", version.id, user.username, source)
    return version.id


@router.post("/rules/publish", response_class=HTMLResponse)
def publish(
    request: Request,
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    text: Text,
    note: Annotated[str, Form(max_length=500)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
    back: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Publish a draft — after the supervisor has seen what changes (the diff against the active rules)."""
    text = normalise_newlines(text)
    state = EditorState(text=text, check=check_draft(text, _known_intents(runtime)))
    if state.check.rules is None:
        state.message = "Not published: fix the problems below first."
        return _page(console, request, user, runtime, state, 422)
    if _sha(text) == _sha(_active_text(runtime)):
        state.message = "Nothing to publish: the draft is the active text."
        return _page(console, request, user, runtime, state)
    if confirm != "yes":
        changes = diff(_active_text(runtime), text)
        return render(
            console, request, "rules_review.html", user, section="rules", text=text, note=note, diff=changes, back=back
        )
    try:
        version = _publish(store, runtime, text, user, "console", note.strip())
    except RulesError as exc:
        state = EditorState(text=text, check=DraftCheck(None, exc.problems), message="Not published.")
        return _page(console, request, user, runtime, state, 422)
    where = "/admin/rules/cards" if back == "cards" else "/admin/rules"
    return RedirectResponse(f"{where}?published={version}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/rules/history", response_class=HTMLResponse)
def history(
    request: Request,
    user: Viewer,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    show: int | None = None,
    rolled_back: int | None = None,
) -> HTMLResponse:
    versions = store.list_rule_versions(limit=200)
    active_sha = _sha(_active_text(runtime))
    # The newest version with the active text is "the" active one (a rollback repeats an older text).
    active_id = next((v.id for v in versions if v.sha256 == active_sha), None)
    shown: dict[str, Any] | None = None
    if versions:
        chosen = next((v for v in versions if v.id == show), versions[0])
        older = [v for v in versions if v.id < chosen.id]
        before = older[0].text if older else ""
        shown = {"version": chosen, "previous": older[0] if older else None, "diff": diff(before, chosen.text)}
    return render(
        console,
        request,
        "history.html",
        user,
        section="rules",
        versions=versions,
        active_sha=active_sha,
        active_id=active_id,
        shown=shown,
        rolled_back=rolled_back,
    )


@router.get("/rules/rollback/{version_id}", response_class=HTMLResponse)
def confirm_rollback(
    version_id: int, request: Request, user: SupervisorPage, console: ConsoleDep, runtime: RuntimeDep, store: StoreDep
) -> HTMLResponse:
    """Ask first: what the active rules would become (the diff), and one button to do it."""
    old = store.get_rule_version(version_id)
    if old is None:
        raise HTTPException(404, f"no rules version {version_id}")
    return render(
        console,
        request,
        "rollback.html",
        user,
        section="rules",
        version=old,
        diff=diff(_active_text(runtime), old.text),
        same=_sha(old.text) == _sha(_active_text(runtime)),
    )


@router.post("/rules/rollback/{version_id}")
def rollback(
    version_id: int,
    request: Request,
    user: Supervisor,
    console: ConsoleDep,
    runtime: RuntimeDep,
    store: StoreDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Make an old text active again, as a new version (history only grows) — once the supervisor confirmed."""
    if confirm != "yes":
        return RedirectResponse(f"/admin/rules/rollback/{version_id}", status_code=status.HTTP_303_SEE_OTHER)
    old = store.get_rule_version(version_id)
    if old is None:
        raise HTTPException(404, f"no rules version {version_id}")
    checked = check_draft(old.text, _known_intents(runtime))
    if checked.rules is None:
        state = EditorState(text=old.text, check=checked, message=f"Version {version_id} is no longer valid.")
        return _page(console, request, user, runtime, state, 422)
    if _sha(old.text) == _sha(_active_text(runtime)):
        return RedirectResponse(f"/admin/rules/history?show={version_id}", status_code=status.HTTP_303_SEE_OTHER)
    version = _publish(store, runtime, old.text, user, "rollback", f"rollback to version {version_id}")
    return RedirectResponse(
        f"/admin/rules/history?show={version}&rolled_back={version_id}", status_code=status.HTTP_303_SEE_OTHER
    )
