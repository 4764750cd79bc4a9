"""The console refuses strangers, forged forms and viewers who try to change things."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import Response
from fastapi.testclient import TestClient

from ivr.admin.sessions import COOKIE, ConsoleSession, SessionCookies
from ivr.admin.throttle import LoginThrottle
from ivr.api import create_app
from ivr.call.record import CallbackRequest, CallRecord
from ivr.runtime import Runtime
from ivr.simulator.scripted import ScriptedRecognizers
from tests.integration.console_helpers import SUPERVISOR, VIEWER, console_settings, csrf_of, log_in
from tests.records import minimal_transfer

PAGES = [
    "/admin/live",
    "/admin/calls",
    "/admin/calls/CA0000/summary.wav",
    "/admin/rules",
    "/admin/rules/history",
    "/admin/dashboard",
    "/admin/missed",
    "/admin/audit",
]
APIS = ["/admin/api/live", "/admin/api/live/stream"]
SUPERVISOR_POSTS = [
    "/admin/rules/publish",
    "/admin/rules/rollback/1",
    "/admin/missed/preview",
    "/admin/missed/assign",
    "/admin/missed/undo",
    "/admin/missed/dismiss",
]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("console")
    app = create_app(console_settings(tmp), recognizers=ScriptedRecognizers())
    with TestClient(app) as client:
        runtime: Runtime = app.state.runtime
        runtime.store.add_user(*SUPERVISOR, role="supervisor")
        runtime.store.add_user(*VIEWER, role="viewer")
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    app_client.cookies.clear()
    return app_client


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_the_login_form(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize("path", APIS)
def test_apis_refuse_strangers_with_401(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", [*SUPERVISOR_POSTS, "/admin/rules/check", "/admin/logout"])
def test_posts_from_strangers_change_nothing(client: TestClient, path: str) -> None:
    response = client.post(path, data={"text": "rules: []"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")


def test_console_pages_cannot_be_framed_or_cached(client: TestClient) -> None:
    headers = client.get("/admin/login").headers
    assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PAGES[:2] + PAGES[3:])  # every page (the WAV is no page)
def test_console_pages_run_no_inline_code_and_the_policy_allows_none(client: TestClient, path: str) -> None:
    log_in(client, *SUPERVISOR)
    page = client.get(path)
    assert page.status_code == 200, path
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    html = page.text.lower()
    assert "<script>" not in html and "<style" not in html and " style=" not in html and " on" + "click=" not in html
    assert client.get("/admin/static/console.css").status_code == 200


def test_a_stored_javascript_url_is_never_rendered_as_a_link(app_client: TestClient, client: TestClient) -> None:
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    store = runtime.store
    store.call_started(CallRecord(call_sid="CA-js", language="nl"))
    store.add_transfer(minimal_transfer("CA-js", "T-js"))
    store.add_callback("T-js", CallbackRequest(kind="voicemail", recording_url="javascript:alert(document.cookie)"))
    store.call_ended("CA-js", "completed", datetime.now(UTC))  # not a live call for the other tests
    log_in(client, *SUPERVISOR)
    page = client.get("/admin/calls/CA-js")
    assert page.status_code == 200 and "javascript:" not in page.text


def test_a_wrong_password_is_refused(client: TestClient) -> None:
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"username": SUPERVISOR[0], "password": "nope-nope", "csrf_token": csrf_of(form.text)}
    )
    assert response.status_code == 401 and "Wrong user name or password" in response.text
    assert client.get("/admin/live", follow_redirects=False).status_code == 303


def test_logging_out_revokes_the_session_even_for_a_copy_of_the_cookie(client: TestClient) -> None:
    csrf = log_in(client, *VIEWER)
    stolen = dict(client.cookies)
    assert client.get("/admin/live", follow_redirects=False).status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.update(stolen)  # the cookie as it was before logging out
    assert client.get("/admin/live", follow_redirects=False).status_code == 303


def test_log_ins_and_failed_log_ins_are_in_the_audit_log(app_client: TestClient, client: TestClient) -> None:
    form = client.get("/admin/login")
    client.post(
        "/admin/login", data={"username": "mallory", "password": "guess-guess", "csrf_token": csrf_of(form.text)}
    )
    log_in(client, *VIEWER)
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    entries = [(e.actor, e.action) for e in runtime.store.list_audit(limit=10)]
    assert ("mallory", "login.failed") in entries and (VIEWER[0], "login") in entries


def test_repeated_wrong_passwords_are_answered_429_even_when_the_right_one_follows(client: TestClient) -> None:
    app = client.app
    runtime: Runtime = app.state.runtime  # type: ignore[attr-defined]
    runtime.store.add_user("guessed", "the-right-password-1", role="viewer")
    form = client.get("/admin/login")
    token = csrf_of(form.text)
    try:
        statuses = [
            client.post("/admin/login", data={"username": "guessed", "password": f"guess-{n}", "csrf_token": token})
            for n in range(5)
        ]
        assert [r.status_code for r in statuses] == [401] * 5
        right = client.post(
            "/admin/login", data={"username": "guessed", "password": "the-right-password-1", "csrf_token": token}
        )
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) > 0
        assert "Too many failed attempts" in right.text
        assert client.get("/admin/live", follow_redirects=False).status_code == 303  # not logged in
    finally:
        app.state.console.throttle = LoginThrottle()  # type: ignore[attr-defined]


def test_a_login_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/admin/login")
    response = client.post("/admin/login", data={"username": SUPERVISOR[0], "password": SUPERVISOR[1]})
    assert response.status_code == 403
    assert client.get("/admin/live", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    form = client.get("/admin/login")
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie


def test_a_supervisor_post_without_csrf_token_is_refused(client: TestClient, tmp_path: Path) -> None:
    log_in(client, *SUPERVISOR)
    rules_before = client.get("/admin/rules").text
    response = client.post("/admin/rules/publish", data={"text": "timezone: Europe/Amsterdam\n"})
    assert response.status_code == 403 and "CSRF" in response.text
    response = client.post("/admin/rules/publish", data={"text": "x: 1\n", "csrf_token": "forged"})
    assert response.status_code == 403
    assert client.get("/admin/rules").text == rules_before


def test_a_viewer_can_look_but_not_publish_rules(client: TestClient) -> None:
    csrf = log_in(client, *VIEWER)
    for path in PAGES[:2] + PAGES[3:]:
        assert client.get(path).status_code == 200, path
    page = client.get("/admin/rules").text
    assert 'id="publish"' not in page
    text = page.split('id="rules-text"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    response = client.post("/admin/rules/publish", data={"text": text + "\n# viewer edit\n", "csrf_token": csrf})
    assert response.status_code == 403 and "only supervisors" in response.text


@pytest.mark.parametrize("path", SUPERVISOR_POSTS)
def test_viewers_get_403_on_every_supervisor_action(client: TestClient, path: str) -> None:
    csrf = log_in(client, *VIEWER)
    data = {"text": "x", "language": "nl", "key": "x", "intent": "refund", "csrf_token": csrf}
    assert client.post(path, data=data).status_code == 403


def test_a_viewer_may_check_a_draft(client: TestClient) -> None:
    csrf = log_in(client, *VIEWER)
    response = client.post("/admin/rules/check", data={"text": "rules: [\n", "csrf_token": csrf})
    assert response.status_code == 422 and "YAML syntax" in response.text


def test_logging_out_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client, *SUPERVISOR)
    assert client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/admin/live", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    cookies = SessionCookies("k" * 32, 3600, secure=True)
    response = Response()
    cookies.write(response, ConsoleSession.anonymous())
    header = response.headers["set-cookie"].lower()
    assert "secure" in header and "httponly" in header


def test_a_forged_session_cookie_is_not_a_login(client: TestClient) -> None:
    forged = SessionCookies("not-the-servers-secret", 3600, secure=False)
    response = Response()
    forged.write(response, ConsoleSession.for_user(SUPERVISOR[0]))
    value = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    client.cookies.set(COOKIE, value, path="/admin")
    assert client.get("/admin/live", follow_redirects=False).status_code == 303


def test_a_logged_in_user_gets_live_calls_as_server_sent_events(app_client: TestClient) -> None:
    app_client.cookies.clear()
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    runtime.store.call_started(CallRecord(call_sid="CAlive-sse", language="nl", caller="+31612345678"))
    log_in(app_client, *VIEWER)
    with app_client.stream("GET", "/admin/api/live/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = next(line for line in response.iter_lines() if line.startswith("data:"))
    calls = json.loads(data.removeprefix("data:"))
    assert [(c["call_sid"], c["caller"]) for c in calls] == [("CAlive-sse", "+316******78")]
