"""No action without its audit event, no audit event without its action.

Each test makes the audit write fail (the database refuses it, or the writer raises)
and compares what happened with what was recorded, through HTTP, on both engines.
"""

from __future__ import annotations

import re

from app.audit import service as audit_service
from app.users.repository import get_users
from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser, audit_count, audit_refused, audit_since, image_row, snapshot


def trashed(alice_api) -> str:
    image_id = alice_api.upload().get_json()["id"]
    response = alice_api.delete(f"/api/v1/images/{image_id}",
                                headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 200
    return image_id


def test_a_soft_delete_whose_event_is_refused_changes_nothing(app, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    before, state = audit_count(app), snapshot(app)
    with audit_refused(app):
        response = alice_api.delete(f"/api/v1/images/{image_id}",
                                    headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 503
    assert response.get_json()["code"] == "audit_unavailable"
    assert response.headers["Retry-After"]
    assert snapshot(app) == state and not image_row(app, image_id).is_deleted
    assert audit_count(app) == before
    # Once the log accepts events again, the same call trashes it with its one event.
    again = alice_api.delete(f"/api/v1/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    assert again.status_code == 200 and image_row(app, image_id).is_deleted
    assert audit_since(app, before) == [("soft_delete", "ok")]


def test_a_restore_whose_event_is_refused_leaves_the_image_in_the_trash(app, alice_api):
    image_id = trashed(alice_api)
    before = audit_count(app)
    with audit_refused(app):
        response = alice_api.post(f"/api/v1/images/{image_id}/restore")
    assert response.status_code == 503
    assert image_row(app, image_id).is_deleted
    assert audit_count(app) == before


def test_the_page_face_refuses_the_same_way(app, alice, client):
    browser = Browser(client, alice.username, USER_PASSWORD)
    uploaded = browser.upload(png_bytes())
    image_id = re.search(r'id="image-([0-9a-f-]+)"', uploaded.text).group(1)
    state = snapshot(app)
    with audit_refused(app):
        response = browser.request("DELETE", f"/images/{image_id}",
                                   headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 503
    assert "audit log" in response.text
    assert snapshot(app) == state


def test_when_the_writer_itself_fails_the_action_is_rolled_back(app, alice_api, monkeypatch):
    """The same rule when the failure is not the database's: the append raises."""
    image_id = alice_api.upload().get_json()["id"]
    state, before = snapshot(app), audit_count(app)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit writer broke")

    monkeypatch.setattr(audit_service, "append", broken)
    response = alice_api.delete(f"/api/v1/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 503
    assert snapshot(app) == state and audit_count(app) == before


def test_an_action_outside_sql_is_not_attempted_without_its_started_event(app, admin_api,
                                                                          make_user):
    target = make_user()
    before = audit_count(app)
    with audit_refused(app):
        response = admin_api.patch(f"/api/v1/users/{target.id}/deactivate",
                                   headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 503
    with app.app_context():
        assert get_users().get(target.id).status == "active"
    assert audit_count(app) == before


def test_an_action_outside_sql_keeps_its_started_event_when_the_outcome_is_lost(
        app, admin_api, make_user, monkeypatch):
    """The user store changed and cannot be rolled back: the answer tells the truth and
    the log holds the started event for it."""
    target = make_user()
    before = audit_count(app)
    real_append = audit_service.append

    def refuse_outcomes(action, outcome, ctx, **kwargs):
        if outcome != "started":
            raise RuntimeError("the log broke after the action")
        return real_append(action, outcome, ctx, **kwargs)

    monkeypatch.setattr(audit_service, "append", refuse_outcomes)
    response = admin_api.patch(f"/api/v1/users/{target.id}/deactivate",
                               headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 200 and response.get_json()["status"] == "inactive"
    with app.app_context():
        assert get_users().get(target.id).status == "inactive"
    assert audit_since(app, before) == [("deactivate", "started")]
