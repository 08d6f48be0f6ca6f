"""The JSON API of users: every rule and status of SPEC section 5."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from app.users.repository import get_users
from tests.conftest import USER_PASSWORD
from tests.helpers import Browser, audit_count, image_row, last_audit, object_files

YES = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def app(sqlite_app):
    """The saga tests run on every SQL engine; these HTTP rules need one."""
    return sqlite_app


@pytest.fixture
def admin2(make_user):
    return make_user("admin2", role="admin")


def user_doc(app, user_id):
    with app.app_context():
        return get_users().get_doc(user_id)


# -- listing and creating -------------------------------------------------------------------

def test_list_filters_searches_and_pages(admin_api, make_user):
    for name in ("anna", "bert", "carl"):
        make_user(name)
    carl = make_user("carla")
    admin_api.delete(f"/api/v1/users/{carl.id}", headers=YES)
    body = admin_api.get("/api/v1/users?status=active&limit=2").get_json()
    assert [u["username"] for u in body["items"]] == ["anna", "bert"]
    rest = admin_api.get(f"/api/v1/users?status=active&cursor={body['next_cursor']}").get_json()
    assert [u["username"] for u in rest["items"]] == ["carl", "founder"]
    assert rest["next_cursor"] is None
    inactive = admin_api.get("/api/v1/users?status=inactive").get_json()["items"]
    assert [(u["username"], u["is_active"]) for u in inactive] == [("carla", False)]
    assert set(inactive[0]) >= {"id", "username", "email", "role", "is_founder", "status",
                                "is_active", "deactivated_at"}
    found = admin_api.get("/api/v1/users?q=CARL").get_json()["items"]
    assert [u["username"] for u in found] == ["carl", "carla"]


@pytest.mark.parametrize("query, code", [("status=gone", "invalid_option"),
                                         ("cursor=%%%", "invalid_cursor"),
                                         ("limit=0", "invalid_limit")])
def test_bad_list_arguments_are_400(admin_api, query, code):
    response = admin_api.get(f"/api/v1/users?{query}")
    assert response.status_code == 400 and response.get_json()["code"] == code


def test_users_api_is_for_admins(client, alice_api):
    assert client.get("/api/v1/users").status_code == 401
    assert alice_api.get("/api/v1/users").status_code == 403
    assert alice_api.post("/api/v1/users", json={}).status_code == 403


def test_create_validates_and_refuses_duplicates_ignoring_case(admin_api):
    good = {"username": "dora.k", "email": "dora@example.com", "password": "long-password",
            "is_founder": True}
    created = admin_api.post("/api/v1/users", json=good)
    assert created.status_code == 201
    assert created.get_json()["is_founder"] is False and created.get_json()["role"] == "user"
    for change in ({"username": "DORA.K"}, {"username": "dora.k", "email": "x@example.com"},
                   {"username": "dora2", "email": "DORA@example.com"}):
        response = admin_api.post("/api/v1/users", json={**good, **change})
        expected = 400 if change["username"] != change["username"].lower() else 409
        assert response.status_code == expected, change
    duplicate = admin_api.post("/api/v1/users", json={**good, "email": "new@example.com"})
    assert duplicate.get_json()["code"] == "duplicate"
    for bad in ({"username": "ünï"}, {"username": "ab"}, {"password": "short"},
                {"role": "root"}, {"email": "nope"}):
        response = admin_api.post("/api/v1/users", json={**good, "username": "erin", **bad})
        assert response.status_code == 400 and response.get_json()["code"] == "invalid_user"
    assert admin_api.post("/api/v1/users", json={"username": 1}).status_code == 400


def test_taken_username_or_email_is_409_duplicate_naming_the_field(admin_api, alice):
    good = {"username": "fresh", "email": "fresh@example.com", "password": "long-password"}
    for change, field in (({"username": alice.username}, "username"),
                          ({"email": alice.email.upper()}, "email")):
        response = admin_api.post("/api/v1/users", json={**good, **change})
        assert response.status_code == 409, change
        assert (response.get_json()["code"], response.get_json()["field"]) == ("duplicate", field)
    listed = admin_api.get("/api/v1/users", query_string={"q": "fresh"}).get_json()["items"]
    assert listed == []


# -- deactivation ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("delete", "/api/v1/users/{id}"),
                                          ("patch", "/api/v1/users/{id}/deactivate")])
def test_deactivation_ends_sessions_and_tokens_and_keeps_images(app, admin_api, api_for,
                                                                make_user, method, path):
    bob = make_user("bob")
    bob_api = api_for(bob)
    image_id = bob_api.upload().get_json()["id"]
    browser = Browser(app.test_client(), "bob", USER_PASSWORD)
    assert browser.request("GET", "/", htmx=False).status_code == 200

    refused = getattr(admin_api, method)(path.format(id=bob.id))
    assert refused.status_code == 400 and refused.get_json()["code"] == "confirmation_required"
    response = getattr(admin_api, method)(path.format(id=bob.id), headers=YES)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["is_active"], body["id"]) == ("inactive", False, bob.id)
    assert body["deactivated_at"]
    assert user_doc(app, bob.id)["deactivated_by"] == admin_api.user.id
    assert last_audit(app).action == "deactivate" and last_audit(app).outcome == "ok"

    # 401 at once: the token, the session, and a new login (with a message saying why).
    assert bob_api.get("/api/v1/images").status_code == 401
    assert bob_api.upload().status_code == 401
    assert browser.request("GET", "/", htmx=False).status_code == 302
    token = app.test_client().post("/api/v1/auth/token",
                                   json={"username": "bob", "password": USER_PASSWORD})
    assert token.status_code == 401 and token.get_json()["code"] == "account_inactive"
    client = app.test_client()
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    login = client.post("/login", data={"csrf_token": csrf, "username": "bob",
                                        "password": USER_PASSWORD})
    assert login.status_code == 401 and "deactivated" in login.text
    assert image_row(app, image_id).is_deleted is False  # images stay untouched

    # Reactivation: a new login works, the old token stays dead, the images are back.
    again = admin_api.patch(f"/api/v1/users/{bob.id}/activate")
    assert again.status_code == 200 and again.get_json()["status"] == "active"
    assert again.get_json()["deactivated_at"] is None
    assert bob_api.get("/api/v1/images").status_code == 401
    fresh = api_for(bob)
    assert [i["id"] for i in fresh.get("/api/v1/images").get_json()["items"]] == [image_id]


def test_deactivating_twice_answers_the_same_user(admin_api, alice):
    first = admin_api.patch(f"/api/v1/users/{alice.id}/deactivate", headers=YES).get_json()
    second = admin_api.patch(f"/api/v1/users/{alice.id}/deactivate", headers=YES).get_json()
    assert first["deactivated_at"] == second["deactivated_at"]


def test_deactivate_route_has_no_permanent_option(admin_api, alice):
    response = admin_api.patch(f"/api/v1/users/{alice.id}/deactivate?permanent=true",
                               headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_option"


# -- protection rules -----------------------------------------------------------------------

def test_protection_rules_answer_their_codes_and_are_audited(app, admin_api, api_for,
                                                             admin2, make_user):
    admin3 = make_user("admin3", role="admin")
    other_admin_api = api_for(admin2)
    founder_id = admin_api.user.id
    cases = [
        (admin_api, founder_id, 403, "self_action"),
        (other_admin_api, admin2.id, 403, "self_action"),
        (other_admin_api, founder_id, 403, "founder_protected"),
        (other_admin_api, admin3.id, 403, "admin_protected"),
    ]
    for api, target, status, code in cases:
        for method, path, headers in (
                ("delete", f"/api/v1/users/{target}", YES),
                ("patch", f"/api/v1/users/{target}/deactivate", YES),
                ("delete", f"/api/v1/users/{target}?permanent=true&force=true",
                 {"X-Confirm-Delete": "x"}),
                ("delete", f"/api/v1/users/{target}?permanent=true&dry_run=true", {})):
            before = audit_count(app)
            response = getattr(api, method)(path, headers=headers)
            assert response.status_code == status, (target, path)
            body = response.get_json()
            assert body["code"] == code and body["error"]
            assert audit_count(app) == before + 1
            event = last_audit(app)
            assert (event.outcome, event.details["code"]) == ("denied", code)
    assert other_admin_api.patch(f"/api/v1/users/{admin3.id}/activate").status_code == 403
    # Only the founder acts on another admin.
    done = admin_api.delete(f"/api/v1/users/{admin3.id}", headers=YES)
    assert done.status_code == 200 and done.get_json()["status"] == "inactive"


def test_plain_users_and_strangers_are_refused(client, alice_api, make_user):
    target = make_user()
    assert alice_api.delete(f"/api/v1/users/{target.id}", headers=YES).status_code == 403
    assert alice_api.patch(f"/api/v1/users/{target.id}/activate").status_code == 403
    assert client.delete(f"/api/v1/users/{target.id}", headers=YES).status_code == 401


def test_unknown_user_is_404(admin_api):
    for call in (lambda: admin_api.delete("/api/v1/users/nope", headers=YES),
                 lambda: admin_api.patch("/api/v1/users/nope/activate"),
                 lambda: admin_api.delete("/api/v1/users/nope?permanent=true&force=true",
                                          headers={"X-Confirm-Delete": "nope"}),
                 lambda: admin_api.get("/api/v1/users/nope/export")):
        response = call()
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_if_match_guards_every_action(admin_api, alice):
    stale = {"If-Match": '"stale"'}
    for call in (lambda h: admin_api.delete(f"/api/v1/users/{alice.id}", headers={**YES, **h}),
                 lambda h: admin_api.patch(f"/api/v1/users/{alice.id}/activate", headers=h)):
        response = call(stale)
        assert response.status_code == 412 and response.get_json()["code"] == "precondition_failed"
    etag = admin_api.delete(f"/api/v1/users/{alice.id}?dry_run=true").get_json()["etag"]
    assert admin_api.delete(f"/api/v1/users/{alice.id}",
                            headers={**YES, "If-Match": etag}).status_code == 200
    # The deactivation moved the version: the old etag is stale now.
    response = admin_api.patch(f"/api/v1/users/{alice.id}/activate", headers={"If-Match": etag})
    assert response.status_code == 412


ROUTES = {
    "deactivate": ("delete", "/api/v1/users/{id}", YES),
    "activate": ("patch", "/api/v1/users/{id}/activate", {}),
    "permanent": ("delete", "/api/v1/users/{id}?permanent=true&force=true",
                  {"X-Confirm-Delete": "alice"}),
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_user_changed_after_the_checks_is_not_acted_on(app, api_for, admin2, alice, route,
                                                         monkeypatch):
    """The write only applies to the version the rules and If-Match saw: here alice becomes
    an admin (whom admin2 may not touch) between the checks and the write."""
    from app.users import actions

    if route == "activate":
        with app.app_context():
            get_users().update(alice.id, {}, {"status": "inactive"})
    boss = api_for(admin2)
    method, path, headers = ROUTES[route]
    path = path.format(id=alice.id)
    send = getattr(boss, method)
    etag = send(path + ("&" if "?" in path else "?") + "dry_run=true").get_json()["etag"]
    real_check = actions.check_protection

    def check_then_promote(users, actor, target, action):
        real_check(users, actor, target, action)
        users.update(target.id, {}, {"role": "admin"})  # another request, at that moment

    monkeypatch.setattr(actions, "check_protection", check_then_promote)
    response = send(path, headers={**headers, "If-Match": etag})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == "conflict"
    doc = user_doc(app, alice.id)
    assert doc["role"] == "admin"
    assert doc["status"] == ("inactive" if route == "activate" else "active")
    assert "deletion_lease" not in doc or doc["deletion_lease"] is None


def test_a_refused_deactivation_leaves_the_target_signed_in(app, admin_api, make_user, api_for,
                                                            monkeypatch):
    """Last-admin compensation: the founder goes inactive at the very moment racer is
    deactivated, so racer's deactivation is undone, and racer's sessions live on."""
    from app.users.repository import UserRepository

    racer = make_user("racer", role="admin")
    racer_api = api_for(racer)
    founder_id = admin_api.user.id
    real_update = UserRepository.update

    def racing_update(self, user_id, expect, changes, **kwargs):
        if user_id == racer.id and changes.get("status") == "inactive":
            real_update(self, founder_id, {}, {"status": "inactive"})
        return real_update(self, user_id, expect, changes, **kwargs)

    monkeypatch.setattr(UserRepository, "update", racing_update)
    response = admin_api.delete(f"/api/v1/users/{racer.id}", headers=YES)
    assert response.status_code == 409 and response.get_json()["code"] == "last_admin"
    doc = user_doc(app, racer.id)
    assert (doc["status"], doc["auth_epoch"], doc["deactivated_at"]) == ("active", 0, None)
    assert racer_api.get("/api/v1/images").status_code == 200


# -- permanent deletion ---------------------------------------------------------------------

def test_permanent_deletion_needs_force_when_the_user_owns_images(app, admin_api, alice,
                                                                  alice_api):
    first = alice_api.upload().get_json()["id"]
    alice_api.upload()
    alice_api.delete(f"/api/v1/images/{first}", headers=YES)
    confirm = {"X-Confirm-Delete": "alice"}
    for query in ("permanent=true", "permanent=true&dry_run=true", "permanent=true&force=false"):
        response = admin_api.delete(f"/api/v1/users/{alice.id}?{query}", headers=confirm)
        assert response.status_code == 409
        body = response.get_json()
        assert body["code"] == "has_dependencies"
        assert body["dependencies"]["images"] == 2 and body["dependencies"]["trash_items"] == 1
    assert user_doc(app, alice.id)["status"] == "active"


def test_dry_run_answers_the_consequences_and_changes_nothing(app, admin_api, alice,
                                                              alice_api, tmp_path):
    ids = [alice_api.upload().get_json()["id"] for _ in range(2)]
    alice_api.delete(f"/api/v1/images/{ids[0]}", headers=YES)
    files = object_files(tmp_path)
    response = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true"
                                "&dry_run=true")
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["action"] == "permanent_delete"
    assert body["target"] == {"type": "user", "id": alice.id}
    consequences = body["consequences"]
    assert (consequences["images"], consequences["objects"], consequences["trash_items"]) \
        == (2, 4, 1)
    assert consequences["bytes"] == sum(
        (tmp_path / "objects" / f).stat().st_size for f in files)
    assert object_files(tmp_path) == files and user_doc(app, alice.id)["status"] == "active"
    soft = admin_api.delete(f"/api/v1/users/{alice.id}?dry_run=true").get_json()
    assert soft["action"] == "deactivate" and soft["consequences"]["images_kept"] == 2
    assert soft["consequences"]["images"] == 0


def test_permanent_deletion_takes_everything_with_it(app, admin_api, alice, alice_api,
                                                     tmp_path):
    ids = [alice_api.upload().get_json()["id"] for _ in range(3)]
    alice_api.delete(f"/api/v1/images/{ids[0]}", headers=YES)
    keep = admin_api.upload().get_json()["id"]
    path = f"/api/v1/users/{alice.id}?permanent=true&force=true"
    for wrong in ({}, YES, {"X-Confirm-Delete": "ALICE"}):
        response = admin_api.delete(path, headers=wrong)
        assert response.status_code == 400
        assert response.get_json()["code"] == "confirmation_required"
    response = admin_api.delete(path, headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] and body["deletion"]["type"] == "permanent"
    assert body["deletion"]["status"] == "deleted" and body["deletion"]["images_deleted"] == 3
    assert body["deletion"]["bytes_freed"] > 0
    assert user_doc(app, alice.id) is None
    assert all(image_row(app, i) is None for i in ids)
    assert image_row(app, keep) is not None
    assert len(object_files(tmp_path)) == 2  # only the admin's original and thumbnail
    assert alice_api.get("/api/v1/images").status_code == 401
    from sqlalchemy import select

    from app.audit.models import AuditEvent
    from app.auth.models import ApiToken
    from app.core.extensions import db

    with app.app_context():
        assert db.session.execute(select(ApiToken).where(
            ApiToken.user_id == alice.id)).first() is None
        actions = db.session.execute(select(AuditEvent.action).where(
            AuditEvent.target_id == alice.id).order_by(AuditEvent.id)).scalars().all()
    assert actions[-3:] == ["user_delete_started", "user_delete_finished", "permanent_delete"]
    again = admin_api.delete(path, headers={"X-Confirm-Delete": "alice"})
    assert again.status_code == 404


def test_a_user_without_images_needs_no_force(app, admin_api, alice):
    response = admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true",
                                headers={"X-Confirm-Delete": "alice"})
    assert response.status_code == 200 and user_doc(app, alice.id) is None


def test_a_user_being_deleted_cannot_sign_in_upload_or_come_back(app, admin_api, alice,
                                                                 alice_api):
    with app.app_context():
        get_users().update(alice.id, {}, {"status": "deleting"})
    assert alice_api.upload().status_code == 401
    token = app.test_client().post("/api/v1/auth/token",
                                   json={"username": "alice", "password": USER_PASSWORD})
    assert token.status_code == 401 and token.get_json()["code"] == "account_deleting"
    for response in (admin_api.patch(f"/api/v1/users/{alice.id}/activate"),
                     admin_api.delete(f"/api/v1/users/{alice.id}", headers=YES),
                     admin_api.delete(f"/api/v1/users/{alice.id}?permanent=true&force=true",
                                      headers={"X-Confirm-Delete": "alice"})):
        assert response.status_code == 409 and response.get_json()["code"] == "deleting"


# -- export ---------------------------------------------------------------------------------

def test_export_is_for_the_user_and_admins(app, admin_api, alice, alice_api, api_for,
                                           make_user):
    ids = [alice_api.upload().get_json()["id"] for _ in range(2)]
    alice_api.delete(f"/api/v1/images/{ids[0]}", headers=YES)
    own = alice_api.get(f"/api/v1/users/{alice.id}/export")
    assert own.status_code == 200 and "attachment" in own.headers["Content-Disposition"]
    body = own.get_json()
    assert body["user"]["username"] == "alice" and "password_hash" not in json.dumps(body)
    assert {i["id"]: i["is_deleted"] for i in body["images"]} == {ids[0]: True, ids[1]: False}
    assert admin_api.get(f"/api/v1/users/{alice.id}/export").status_code == 200
    stranger = api_for(make_user())
    assert stranger.get(f"/api/v1/users/{alice.id}/export").status_code == 404
    assert alice_api.get(f"/api/v1/users/{alice.id}/export?include=all").status_code == 400


def test_export_with_files_streams_a_zip_of_the_originals(app, alice, alice_api):
    from tests.conftest import png_bytes

    data = png_bytes(size=(40, 30))
    image_id = alice_api.upload(data, name="../../holiday photo.png").get_json()["id"]
    response = alice_api.get(f"/api/v1/users/{alice.id}/export?include=files")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = archive.namelist()
    assert names[0] == "export.json"
    assert names[1] == f"files/{image_id}-holiday_photo.png"
    assert archive.read(names[1]) == data
    assert json.loads(archive.read("export.json"))["images"][0]["id"] == image_id
