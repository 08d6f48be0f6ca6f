"""Managed share links through the API: list, revoke, reuse within the window (SPEC 8)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

import app.core.db as app_db
import app.media.shares as media_shares
import app.media.views as media_views
from app.media.service import share_signature
from tests.conftest import Api
from tests.helpers import audit_count, last_audit
from tests.media.conftest import picture
from tests.media.test_access_cache import pair, share_path, signed_in_pair, warm  # noqa: F401, F811

YES = {"X-Confirm-Delete": "yes"}


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def share(api, image_id, ttl_s=3600):
    response = api.post(f"/api/v1/images/{image_id}/share", json={"ttl_s": ttl_s})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listed(api, image_id) -> list[dict]:
    response = api.get(f"/api/v1/images/{image_id}/shares")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_a_link_carries_its_id_and_is_listed_until_revoked(app, client, alice_api, image):
    link = share(alice_api, image["id"])
    query = parse_qs(urlsplit(link["url"]).query)
    assert list(query) == ["exp", "sid", "sig"] and query["sid"] == [link["id"]]
    assert set(link) == {"id", "url", "created_at", "expires_at"}
    assert listed(alice_api, image["id"]) == [link]
    assert client.get(path_of(link["url"])).status_code == 200

    before = audit_count(app)
    response = alice_api.delete(f"/api/v1/images/{image['id']}/shares/{link['id']}",
                                headers=YES)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["share"]["id"] == link["id"] and body["share"]["revoked_at"]
    assert audit_count(app) == before + 1
    event = last_audit(app)
    assert (event.action, event.outcome, event.target_type, event.target_id) == (
        "share_revoked", "ok", "share_link", link["id"])
    assert event.details["image_id"] == image["id"]

    # Stopped at once, for every form of the link, with today's code.
    for form in ("", "&w=320", "&download=1"):
        refused = client.get(path_of(link["url"]) + form)
        assert refused.status_code == 403, form
        assert refused.get_json()["code"] == "invalid_share_link"
        assert refused.headers["Cache-Control"] == "no-store"
    thumb = path_of(link["url"]).replace(f"/media/{image['id']}?", f"/media/{image['id']}/thumb?")
    assert client.get(thumb).status_code == 403
    assert listed(alice_api, image["id"]) == []
    # Asking again makes a new link (a new id), never the revoked one.
    again = share(alice_api, image["id"])
    assert again["id"] != link["id"] and again["url"] != link["url"]
    assert client.get(path_of(again["url"])).status_code == 200
    # Revoking twice answers the same; nothing more is recorded as a change.
    twice = alice_api.delete(f"/api/v1/images/{image['id']}/shares/{link['id']}", headers=YES)
    assert twice.status_code == 200
    assert twice.get_json()["share"]["revoked_at"] == body["share"]["revoked_at"]


def test_revoking_needs_the_confirmation_header(app, client, alice_api, image):
    link = share(alice_api, image["id"])
    path = f"/api/v1/images/{image['id']}/shares/{link['id']}"
    for headers in ({}, {"X-Confirm-Delete": "no"}):
        response = alice_api.delete(path, headers=headers)
        assert response.status_code == 400
        assert response.get_json()["code"] == "confirmation_required"
        assert last_audit(app).outcome == "confirmation_required"
    assert client.get(path_of(link["url"])).status_code == 200
    # A dry run says what would happen and changes nothing.
    dry = alice_api.delete(path + "?dry_run=true").get_json()
    assert dry["dry_run"] is True and dry["action"] == "share_revoked"
    assert client.get(path_of(link["url"])).status_code == 200


def test_someone_else_gets_404_and_an_admin_may_manage(app, make_user, api_for, admin_api,
                                                       alice_api, image):
    link = share(alice_api, image["id"])
    bob = api_for(make_user("bob"))
    assert bob.get(f"/api/v1/images/{image['id']}/shares").status_code == 404
    refused = bob.delete(f"/api/v1/images/{image['id']}/shares/{link['id']}", headers=YES)
    assert refused.status_code == 404 and refused.get_json()["code"] == "not_found"
    assert last_audit(app).outcome == "not_found"
    # A link id under another image of the owner is no way in either.
    other = alice_api.upload(picture(color=(9, 9, 9))).get_json()
    assert alice_api.delete(f"/api/v1/images/{other['id']}/shares/{link['id']}",
                            headers=YES).status_code == 404
    assert alice_api.delete(f"/api/v1/images/{image['id']}/shares/{'x' * 200}",
                            headers=YES).status_code == 404
    assert [s["id"] for s in listed(admin_api, image["id"])] == [link["id"]]
    assert admin_api.delete(f"/api/v1/images/{image['id']}/shares/{link['id']}",
                            headers=YES).status_code == 200
    assert listed(alice_api, image["id"]) == []


def test_the_same_photo_and_expiry_within_the_window_is_the_same_link(app, alice_api, image,
                                                                      monkeypatch):
    app.config["SHARE_LINK_WINDOW_S"] = 3600
    start = app_db.utcnow().replace(minute=0, second=0, microsecond=0)
    clock = {"now": start + timedelta(minutes=1)}
    for module in (app_db, media_views, media_shares):
        monkeypatch.setattr(module, "utcnow", lambda: clock["now"])
    first = share(alice_api, image["id"], ttl_s=3600)
    clock["now"] = start + timedelta(minutes=50)
    assert share(alice_api, image["id"], ttl_s=3600) == first  # the row is reused
    week = share(alice_api, image["id"], ttl_s=7 * 24 * 3600)
    assert week["id"] != first["id"]
    assert [s["id"] for s in listed(alice_api, image["id"])] == [first["id"], week["id"]]
    clock["now"] = start + timedelta(minutes=61)
    assert share(alice_api, image["id"], ttl_s=3600)["id"] != first["id"]
    # Expired links leave the list.
    clock["now"] = start + timedelta(hours=2, minutes=1)
    assert first["id"] not in {s["id"] for s in listed(alice_api, image["id"])}


def test_the_list_is_paged_and_bad_paging_is_400(alice_api, image):
    made = [share(alice_api, image["id"], ttl_s=ttl)["id"]
            for ttl in (3600, 86400, 7 * 86400, 30 * 86400)]
    page = alice_api.get(f"/api/v1/images/{image['id']}/shares?limit=3").get_json()
    assert [s["id"] for s in page["items"]] == made[:3] and page["next_cursor"]
    rest = alice_api.get(f"/api/v1/images/{image['id']}/shares?limit=3"
                         f"&cursor={page['next_cursor']}").get_json()
    assert [s["id"] for s in rest["items"]] == made[3:] and rest["next_cursor"] is None
    for bad in ("limit=0", "limit=abc", "cursor=nonsense", "cursor=W10"):
        response = alice_api.get(f"/api/v1/images/{image['id']}/shares?{bad}")
        assert response.status_code == 400, bad


def test_links_of_the_old_form_are_refused(app, client, alice_api, image):
    """Links signed before links had rows (no ``sid``) are 403: no list shows them and
    no one could revoke them, and the viewer only made them for about a day."""
    exp = int(app_db.utcnow().timestamp()) + 3600
    old = share_signature(app.config["SECRET_KEY"], image["id"], exp)
    response = client.get(f"/media/{image['id']}?exp={exp}&sig={old}")
    assert response.status_code == 403
    assert response.get_json()["code"] == "invalid_share_link"
    # Nor can a valid link's signature be moved to another id.
    link = share(alice_api, image["id"])
    query = parse_qs(urlsplit(link["url"]).query)
    forged = f"/media/{image['id']}?exp={query['exp'][0]}&sid=another&sig={query['sig'][0]}"
    assert client.get(forged).status_code == 403


def test_a_purged_images_links_are_404_and_gone(app, client, alice_api, image):
    link = share(alice_api, image["id"])
    assert alice_api.delete(f"/api/v1/images/{image['id']}?permanent=true",
                            headers=YES).status_code == 200
    assert client.get(path_of(link["url"])).status_code == 404
    assert alice_api.get(f"/api/v1/images/{image['id']}/shares").status_code == 404


def test_a_revocation_in_another_process_ends_the_link_at_once(pair):  # noqa: F811
    """Two workers: the link, warm in the first one's access entries, is refused on its
    next request after the second revokes it (the revocation moves the generation)."""
    first, second = pair
    alice, alice_one, _admin_two, image = signed_in_pair(pair)
    alice_two = Api(second.test_client(), alice_one.token, alice)
    link = share_path(alice_one, image)
    anonymous = first.test_client()
    warm(anonymous, link)
    share_id = parse_qs(urlsplit(link).query)["sid"][0]
    assert alice_two.delete(f"/api/v1/images/{image['id']}/shares/{share_id}",
                            headers=YES).status_code == 200
    assert anonymous.get(link).status_code == 403


def test_a_link_to_no_image_at_all_is_403_not_500(client):
    query = "exp=9999999999&sid=x&sig=y"
    for path in (f"/media/not-a-uuid?{query}", f"/media/not-a-uuid/thumb?{query}"):
        assert client.get(path).status_code == 403, path
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 403, path
