"""The decorator's rules over every ``@delete_endpoint`` route that users declare.

``tests.deletion.test_decorator.test_every_route_has_a_case`` reads ``USER_CASES`` so
that no decorated route goes untested; the rules themselves are run here, where a user
(not an image) can be set up as the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.core.db import utcnow
from app.deletion import delete_endpoints
from app.users.repository import get_users
from app.users.service import deactivate_user
from tests.conftest import ADMIN_PASSWORD, login_api
from tests.helpers import Browser, audit_count, audit_since, last_audit


@dataclass(frozen=True)
class UserCase:
    method: str
    path: str
    target_status: str = "active"
    confirm: str | None = "yes"
    # Every user action reaches the user store, so a "started" event comes before its
    # outcome; a permanent deletion adds user_delete_started and _finished.
    audit_events: int = 2


TARGET = "target.user"
USER_CASES = {
    ("users_api.delete", "/api/v1/users/<user_id:user_id>"):
        UserCase("DELETE", "/api/v1/users/{id}"),
    ("users_api.deactivate", "/api/v1/users/<user_id:user_id>/deactivate"):
        UserCase("PATCH", "/api/v1/users/{id}/deactivate"),
    ("users_api.activate", "/api/v1/users/<user_id:user_id>/activate"):
        UserCase("PATCH", "/api/v1/users/{id}/activate", "inactive", None),
    ("users_pages.deactivate", "/admin/users/<user_id:user_id>/deactivate"):
        UserCase("PATCH", "/admin/users/{id}/deactivate"),
    ("users_pages.activate", "/admin/users/<user_id:user_id>/activate"):
        UserCase("PATCH", "/admin/users/{id}/activate", "inactive", None),
    ("users_pages.delete", "/admin/users/<user_id:user_id>"):
        UserCase("DELETE", "/admin/users/{id}", confirm=TARGET, audit_events=4),
}


@pytest.fixture
def app(sqlite_app):
    return sqlite_app


def test_every_users_route_has_a_case(app):
    declared = {(e.endpoint, e.rule) for e in delete_endpoints(app)
                if e.endpoint.startswith("users_")}
    assert declared == set(USER_CASES)


class Founder:
    def __init__(self, app, page_face):
        self.client = app.test_client()
        self.page_face = page_face
        if page_face:
            self.browser = Browser(self.client, "founder", ADMIN_PASSWORD)
        else:
            self.token = login_api(self.client, "founder", ADMIN_PASSWORD)

    def send(self, method, path, headers=None, csrf=True, auth=True):
        headers = dict(headers or {})
        if not auth:
            extra = {"HX-Request": "true"} if self.page_face else {}
            return self.client.application.test_client().open(
                path, method=method, headers={**extra, **headers})
        if self.page_face:
            return self.browser.request(method, path, csrf=csrf, headers=headers)
        return self.client.open(path, method=method,
                                headers={"Authorization": f"Bearer {self.token}", **headers})


def routes(where=lambda case: True):
    """Parametrise a test over the user routes a rule applies to (no N/A skips)."""
    keys = [key for key, case in USER_CASES.items() if where(case)]
    return pytest.mark.parametrize("route", keys, ids=[k[0] for k in keys], indirect=True)


@pytest.fixture
def route(request, app, make_user):
    case = USER_CASES[request.param]
    target = make_user(TARGET)
    if case.target_status == "inactive":
        with app.app_context():
            deactivate_user(get_users(), target, actor_id="test", now=utcnow())
    actor = Founder(app, page_face=not case.path.startswith("/api/"))
    return case, actor, case.path.format(id=target.id), target


def target_state(app, target):
    with app.app_context():
        doc = get_users().get_doc(target.id)
    return doc and (doc["status"], doc["version"])


def confirm(case):
    return {"X-Confirm-Delete": case.confirm} if case.confirm else {}


@routes()
def test_no_credentials_is_401_and_not_audited(app, route):
    case, actor, path, _ = route
    before = audit_count(app)
    response = actor.send(case.method, path, headers=confirm(case), auth=False)
    assert response.status_code == 401
    assert audit_count(app) == before


@routes(lambda case: not case.path.startswith("/api/"))  # bearer tokens need no CSRF
def test_cookie_session_without_csrf_is_400(app, route):
    case, actor, path, target = route
    state = target_state(app, target)
    response = actor.send(case.method, path, headers=confirm(case), csrf=False)
    assert response.status_code == 400 and target_state(app, target) == state
    assert last_audit(app).outcome == "bad_request"


BAD_OPTIONS = ("permanent=yes", "dry_run=1", "force=TRUE", "force=true&force=false",
               "dry_run=false&dry_run=true", "dryrun=true", "foo=bar", "ids=1")


@routes()
def test_options_are_strict(app, route):
    case, actor, path, target = route
    state = target_state(app, target)
    for bad in BAD_OPTIONS:
        response = actor.send(case.method, f"{path}?{bad}", headers=confirm(case))
        assert response.status_code == 400 and target_state(app, target) == state, bad
        assert last_audit(app).details["code"] == "invalid_option", bad
        if not actor.page_face:
            assert response.get_json()["option"] == bad.partition("=")[0], bad


@routes(lambda case: case.method == "DELETE")
def test_repeated_permanent_never_deletes(app, route):
    """permanent=true&permanent=false (or the reverse) is refused, whichever value wins."""
    case, actor, path, target = route
    state = target_state(app, target)
    for query in ("permanent=true&permanent=false&force=true",
                  "permanent=false&permanent=true&force=true"):
        response = actor.send(case.method, f"{path}?{query}",
                              headers={"X-Confirm-Delete": TARGET})
        assert response.status_code == 400 and target_state(app, target) == state


@routes()
def test_malformed_user_id_is_404_without_touching_the_audit(app, route):
    """Ids that cannot exist (not 32 hex digits) never reach the decorator."""
    case, actor, _, _ = route
    before = audit_count(app)
    for bad in ("x" * 65, "0" * 31, "0" * 33, "ABCDEF" + "0" * 26, "zz" + "0" * 30):
        response = actor.send(case.method, case.path.format(id=bad), headers=confirm(case))
        assert response.status_code == 404, bad
    assert audit_count(app) == before


@routes()
def test_unknown_target_is_404(app, route):
    case, actor, _, _ = route
    response = actor.send(case.method, case.path.format(id="0" * 32), headers=confirm(case))
    assert response.status_code == 404 and last_audit(app).outcome == "not_found"


@routes()
def test_if_match_mismatch_is_412(app, route):
    case, actor, path, target = route
    state = target_state(app, target)
    with app.app_context():
        current = get_users().get(target.id).etag
    for stale in ('"old"', f"W/{current}"):  # a weak tag fails even with the current value
        response = actor.send(case.method, path, headers={**confirm(case), "If-Match": stale})
        assert response.status_code == 412 and target_state(app, target) == state, stale


@routes()
def test_dry_run_changes_nothing(app, route):
    case, actor, path, target = route
    state, before = target_state(app, target), audit_count(app)
    response = actor.send(case.method, f"{path}?dry_run=true")
    assert response.status_code == 200
    assert target_state(app, target) == state and audit_count(app) == before + 1
    assert last_audit(app).outcome == "dry_run"


@routes(lambda case: case.confirm is not None)
def test_missing_or_wrong_confirmation_is_400(app, route):
    case, actor, path, target = route
    state = target_state(app, target)
    for headers in ({}, {"X-Confirm-Delete": "no"}, {"X-Confirm-Delete": case.confirm.upper()}):
        response = actor.send(case.method, path, headers=headers)
        assert response.status_code == 400 and target_state(app, target) == state
        assert last_audit(app).outcome == "confirmation_required"


@routes()
def test_confirmed_action_succeeds_and_is_audited(app, route):
    case, actor, path, target = route
    before = audit_count(app)
    response = actor.send(case.method, path, headers=confirm(case))
    assert response.status_code == 200, response.text
    assert audit_count(app) == before + case.audit_events
    assert audit_since(app, before)[0][1] == "started"
    event = last_audit(app)
    assert event.outcome == "ok" and event.request_id == response.headers["X-Request-ID"]
    if actor.page_face:
        assert 'hx-swap-oob="beforeend:#toasts"' in response.text
