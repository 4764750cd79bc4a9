"""The structured rules editor: each rule a card, no YAML typed. Same checks, dry run and publish as the YAML view.

The form carries every card's fields (``r{i}.{field}``) and one ``action``: check, add, up-i, down-i, remove-i,
dry-run, publish. The cards become the rules block of the active file (everything above it stays as written), are
checked by the same loader, and problems are shown on the card they belong to. Publishing goes through the same
review (the diff against the active rules) and history as a YAML edit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ivr.admin import queries
from ivr.admin.auth import ConsoleUser, Poster, Viewer
from ivr.admin.console import Console, ConsoleDep, RuntimeDep
from ivr.admin.pages import render
from ivr.admin.replay import DryRun, dry_run
from ivr.admin.rule_cards import (
    RuleCard,
    cards_from_form,
    cards_from_text,
    moved,
    text_with_cards,
    with_problems,
)
from ivr.admin.rules_editor import check_draft, diff
from ivr.admin.views_rules import DEFAULT_DRY_RUN_CALLS, _active_text, _known_intents
from ivr.rules.schema import DEFAULT_TARGET
from ivr.runtime import Runtime

router = APIRouter()

MAX_CARDS = 200


def _page(
    console: Console,
    request: Request,
    user: ConsoleUser,
    runtime: Runtime,
    cards: list[RuleCard],
    *,
    message: str = "",
    dry: DryRun | None = None,
) -> HTMLResponse:
    text, spans = text_with_cards(_active_text(runtime), cards)
    check = check_draft(text, _known_intents(runtime))
    cards, elsewhere = with_problems(cards, spans, check.problems)
    targets = sorted(runtime.rulebook.active.targets)
    return render(
        console,
        request,
        "rules_cards.html",
        user,
        section="rules",
        status_code=200 if check.ok else 422,
        cards=cards,
        text=text,
        ok=check.ok,
        elsewhere=elsewhere,
        message=message,
        dry=dry,
        intents=sorted(_known_intents(runtime)),
        targets=targets,
        languages=list(runtime.flows),
    )


@router.get("/rules/cards", response_class=HTMLResponse)
def cards_page(
    request: Request, user: Viewer, console: ConsoleDep, runtime: RuntimeDep, published: int | None = None
) -> HTMLResponse:
    cards = cards_from_text(_active_text(runtime))
    message = f"Version {published} published and active." if published is not None else ""
    return _page(console, request, user, runtime, cards, message=message)


@router.post("/rules/cards", response_class=HTMLResponse)
async def edit_cards(request: Request, user: Poster, console: ConsoleDep, runtime: RuntimeDep) -> Response:
    """Apply one action to the cards as the supervisor left them, and show the result."""
    form = await request.form()
    fields: dict[str, list[str]] = defaultdict(list)
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key].append(value)
    try:
        count = min(max(int(fields.get("count", ["0"])[-1]), 0), MAX_CARDS)
    except ValueError:
        count = 0
    action = fields.get("action", ["check"])[-1]
    cards = cards_from_form(fields, count)
    message = ""
    verb, _, which = action.partition("-")
    index = int(which) if which.isdigit() else -1
    if action == "add" and len(cards) < MAX_CARDS:
        cards.append(RuleCard(name="nieuwe-regel", target=DEFAULT_TARGET, priority="50"))
        message = "A new rule was added at the end: give it a name, a description and at least one condition."
    elif verb in ("up", "down"):
        cards = moved(cards, index, -1 if verb == "up" else 1)
    elif verb == "remove" and 0 <= index < len(cards):
        message = f"Rule {cards[index].name!r} removed from the draft (nothing is published yet)."
        del cards[index]
    if action == "publish":
        text, _ = text_with_cards(_active_text(runtime), cards)
        if check_draft(text, _known_intents(runtime)).ok:
            changes = diff(_active_text(runtime), text)
            return render(
                console,
                request,
                "rules_review.html",
                user,
                section="rules",
                text=text,
                note="",
                diff=changes,
                back="cards",
            )
        message = "Not published: fix the problems on the cards first."
    dry = None
    if action == "dry-run":
        text, _ = text_with_cards(_active_text(runtime), cards)
        check = check_draft(text, _known_intents(runtime))
        if check.rules is None:
            message = "Fix the problems on the cards before a dry run."
        else:
            active = runtime.rulebook.active
            calls = await asyncio.to_thread(queries.calls_for_replay, runtime.store.engine, DEFAULT_DRY_RUN_CALLS)
            understander = console.understander(active)
            dry = await asyncio.to_thread(dry_run, understander, active, check.rules, calls)
    return await asyncio.to_thread(_page, console, request, user, runtime, cards, message=message, dry=dry)
