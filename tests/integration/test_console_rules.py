"""Publishing rules from the console: the server's rules change at once, and the store remembers who did it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ivr.admin.grammar_feedback import add_example
from ivr.api import create_app
from ivr.runtime import Runtime
from ivr.signals.intent import classify_intent
from ivr.simulator.scripted import ScriptedRecognizers
from tests.integration.console_helpers import SUPERVISOR, console_settings, log_in


@pytest.fixture
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    app = create_app(console_settings(tmp_path_factory.mktemp("rules")), recognizers=ScriptedRecognizers())
    with TestClient(app) as client:
        runtime: Runtime = app.state.runtime
        runtime.store.add_user(*SUPERVISOR, role="supervisor")
        yield client, runtime


def test_publishing_reloads_the_rules_and_is_audited_then_rollback_restores_them(
    app: tuple[TestClient, Runtime],
) -> None:
    client, runtime = app
    csrf = log_in(client, *SUPERVISOR)
    original = runtime.rulebook.path.read_text(encoding="utf-8")
    draft = original.replace("target: fraudeteam", "target: klachten", 1)

    review = client.post("/admin/rules/publish", data={"text": draft, "note": "test", "csrf_token": csrf})
    assert review.status_code == 200 and "Publish these rules?" in review.text  # the diff first, nothing changed
    assert "- " in review.text and runtime.rulebook.path.read_text(encoding="utf-8") == original
    data = {"text": draft, "note": "test", "csrf_token": csrf, "confirm": "yes"}
    response = client.post("/admin/rules/publish", data=data)
    assert response.status_code == 200 and "published and active" in response.text
    assert next(r for r in runtime.rulebook.active.rules if r.name == "fraude").target == "klachten"
    versions = runtime.store.list_rule_versions()
    assert (versions[0].author, versions[0].source, versions[0].note) == (SUPERVISOR[0], "console", "test")
    assert not any(v.text == draft and v.source == "file" for v in versions), "one version per publish"
    entry = runtime.store.list_audit()[0]
    assert (entry.actor, entry.action) == (SUPERVISOR[0], "rules.publish")

    before = next(v for v in versions if v.text == original)
    unconfirmed = client.post(f"/admin/rules/rollback/{before.id}", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 200 and "Roll back to version" in unconfirmed.text  # asked, not done
    assert runtime.rulebook.path.read_text(encoding="utf-8") == draft
    response = client.post(f"/admin/rules/rollback/{before.id}", data={"csrf_token": csrf, "confirm": "yes"})
    assert response.status_code == 200 and "Rolled back" in response.text
    assert runtime.rulebook.path.read_text(encoding="utf-8") == original
    assert next(r for r in runtime.rulebook.active.rules if r.name == "fraude").target == "fraudeteam"
    assert runtime.store.list_rule_versions()[0].source == "rollback"
    assert runtime.store.list_audit()[0].action == "rules.rollback"


def test_an_invalid_draft_is_not_published(app: tuple[TestClient, Runtime]) -> None:
    client, runtime = app
    csrf = log_in(client, *SUPERVISOR)
    original = runtime.rulebook.path.read_text(encoding="utf-8")
    response = client.post(
        "/admin/rules/publish", data={"text": original.replace("priority: 95", "priority: 950"), "csrf_token": csrf}
    )
    assert response.status_code == 422 and "less than or equal to 100" in response.text
    assert runtime.rulebook.path.read_text(encoding="utf-8") == original


def test_wording_taught_in_the_console_is_understood_by_the_next_call(app: tuple[TestClient, Runtime]) -> None:
    _, runtime = app
    sentence = "het ding doet het nog steeds niet"

    def heard_as() -> str:
        return classify_intent(sentence, runtime.session_deps.dialogs["nl"].flow.intents).label

    assert heard_as() != "complaint"
    add_example(runtime.settings.grammars_dir, "nl", "complaint", sentence)
    runtime.reload_language("nl")

    assert heard_as() == "complaint"
    assert runtime.flows["nl"] is runtime.session_deps.dialogs["nl"].flow
