"""Who may fetch /media: owner and admins; others 404; anonymous 401; share links."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

import app.core.db as app_db
import app.media.shares as media_shares
import app.media.views as media_views
from app.media.service import share_signature
from tests.media.conftest import picture

CONFIRM = {"X-Confirm-Delete": "yes"}
FORMS = ["", "/thumb", "?w=320&fmt=webp&q=70", "?download=1"]


@pytest.fixture
def image(alice_api):
    return alice_api.upload(picture()).get_json()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def with_form(url: str, form: str) -> str:
    """Add a form ("/thumb", "?w=…") to a URL that may already carry a query."""
    base, _, query = url.partition("?")
    if form.startswith("/"):
        base, form = base + form, ""
    extra = form.lstrip("?")
    joined = "&".join(q for q in (query, extra) if q)
    return base + ("?" + joined if joined else "")


def freeze(monkeypatch, clock):
    """Both the share API and /media read the time through ``utcnow``."""
    monkeypatch.setattr(app_db, "utcnow", lambda: clock["now"])
    monkeypatch.setattr(media_views, "utcnow", lambda: clock["now"])
    monkeypatch.setattr(media_shares, "utcnow", lambda: clock["now"])


def share(api, image_id, **body):
    return api.post(f"/api/v1/images/{image_id}/share", json=body or {"ttl_s": 3600})


@pytest.mark.parametrize("form", FORMS)
def test_owner_and_admin_may_fetch_every_form(alice_api, admin_api, image, form):
    assert alice_api.get(image["url"] + form).status_code == 200
    assert admin_api.get(image["url"] + form).status_code == 200


@pytest.mark.parametrize("form", FORMS)
def test_another_user_gets_404_and_anonymous_401_on_every_form(make_user, api_for, client,
                                                               alice_api, image, form):
    # The owner fetched first, so a cache holds it: the check still runs before it.
    alice_api.get(image["url"] + form)
    bob = api_for(make_user("bob"))
    other = bob.get(image["url"] + form)
    assert other.status_code == 404
    assert other.get_json()["code"] == "not_found"
    anonymous = client.get(image["url"] + form)
    assert anonymous.status_code == 401
    assert anonymous.get_json()["code"] == "unauthenticated"
    assert "Location" not in anonymous.headers  # an answer, not a login page redirect
    assert client.get(f"/media/not-a-uuid{form}").status_code == 401
    assert bob.get(f"/media/not-a-uuid{form}").status_code == 404


def test_a_signed_in_browser_session_works(app, alice, image):
    from tests.conftest import USER_PASSWORD
    from tests.helpers import Browser

    browser = Browser(app.test_client(), "alice", USER_PASSWORD)
    response = browser.client.get(image["thumbnail_url"])
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"


def test_share_is_for_the_owner_and_admins(client, make_user, api_for, alice_api, admin_api,
                                           image):
    assert share(alice_api, image["id"]).status_code == 201
    assert share(admin_api, image["id"]).status_code == 201
    bob = api_for(make_user("bob"))
    refused = share(bob, image["id"])
    assert refused.status_code == 404 and refused.get_json()["code"] == "not_found"
    assert client.post(f"/api/v1/images/{image['id']}/share",
                       json={"ttl_s": 60}).status_code == 401


@pytest.mark.parametrize("body", [{"ttl_s": "3600"}, {"ttl_s": -1}, {"ttl_s": 0},
                                  {"ttl_s": True}, {"ttl_s": 10**9}, {"ttl_s": 3.5},
                                  {"ttl_s": 60, "public": True}])
def test_share_validates_ttl_s(alice_api, image, body):
    response = alice_api.post(f"/api/v1/images/{image['id']}/share", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_option"


def test_share_refuses_what_is_not_json(alice_api, image):
    response = alice_api.post(f"/api/v1/images/{image['id']}/share", data="[1]",
                              content_type="application/json")
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_json"
    # No body at all takes the default lifetime.
    assert alice_api.post(f"/api/v1/images/{image['id']}/share").status_code == 201


def test_a_share_link_opens_every_variant_for_anyone_publicly(client, make_user, api_for,
                                                              alice_api, image):
    created = share(alice_api, image["id"], ttl_s=600)
    assert created.status_code == 201
    link = created.get_json()
    assert link["url"].startswith("http://localhost/media/") and link["expires_at"].endswith("Z")
    url = path_of(link["url"])
    bob = api_for(make_user("bob"))
    for form in FORMS:
        for who in (client, bob.client):
            response = who.get(with_form(url, form))
            assert response.status_code == 200, (form, response.get_json())
            cache_control = response.headers["Cache-Control"]
            assert cache_control.startswith("public, max-age=")
            max_age = int(cache_control.rsplit("=", 1)[1])
            assert 0 < max_age <= 86400
    # Not a way to reach another image.
    other = alice_api.upload(picture(color=(1, 2, 3))).get_json()
    forged = url.replace(image["id"], other["id"])
    assert client.get(forged).status_code == 403


def test_share_link_public_max_age_is_capped_at_its_expiry(app, client, alice_api, image,
                                                           monkeypatch):
    now = app_db.utcnow()
    freeze(monkeypatch, {"now": now})
    link = share(alice_api, image["id"], ttl_s=60).get_json()
    exp = int(parse_qs(urlsplit(link["url"]).query)["exp"][0])
    response = client.get(path_of(link["url"]))
    # a shared cache keeps it at most share_shared_max_age_s (60 by default; issue 18 item 1)
    left = exp - int(now.timestamp())
    assert response.headers["Cache-Control"] == f"public, max-age={left}, s-maxage={min(60, left)}"


def test_a_share_link_is_stable_within_its_window(app, alice_api, image, monkeypatch):
    app.config["SHARE_LINK_WINDOW_S"] = 3600
    start = app_db.utcnow().replace(minute=0, second=0, microsecond=0)
    clock = {"now": start + timedelta(minutes=1)}
    freeze(monkeypatch, clock)
    first = share(alice_api, image["id"], ttl_s=600).get_json()
    clock["now"] = start + timedelta(minutes=40)
    second = share(alice_api, image["id"], ttl_s=600).get_json()
    assert first == second
    assert first["expires_at"].startswith((start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:00"))
    clock["now"] = start + timedelta(minutes=61)
    third = share(alice_api, image["id"], ttl_s=600).get_json()
    assert third["url"] != first["url"]


def test_a_tampered_or_expired_link_is_403(app, client, alice_api, image, monkeypatch):
    link = path_of(share(alice_api, image["id"]).get_json()["url"])
    query = parse_qs(urlsplit(link).query)
    exp, sig = int(query["exp"][0]), query["sig"][0]
    base = f"/media/{image['id']}"
    tampered = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
    for bad in (f"{base}?exp={exp}&sig={tampered}", f"{base}?exp={exp + 3600}&sig={sig}",
                f"{base}?exp=soon&sig={sig}", f"{base}?exp={exp}", f"{base}?sig={sig}"):
        response = client.get(bad)
        assert response.status_code == 403, bad
        assert response.get_json()["code"] == "invalid_share_link"
    past = int(app_db.utcnow().timestamp()) - 10
    expired_sig = share_signature(app.config["SECRET_KEY"], image["id"], past)
    response = client.get(f"{base}?exp={past}&sig={expired_sig}")
    assert response.status_code == 403
    # The link from the API stops working once its time has passed.
    assert client.get(link).status_code == 200
    freeze(monkeypatch, {"now": app_db.utcnow() + timedelta(seconds=exp - past + 60)})
    assert client.get(link).status_code == 403
    # Signed with another key: refused too.
    foreign = share_signature("another-secret-key-000000", image["id"], exp)
    assert client.get(f"{base}?exp={exp}&sig={foreign}").status_code == 403


def test_a_trashed_image_is_for_its_owner_and_admins_never_through_a_link(
        client, alice_api, admin_api, image):
    link = path_of(share(alice_api, image["id"]).get_json()["url"])
    assert client.get(link).status_code == 200
    alice_api.delete(f"/api/v1/images/{image['id']}", headers=CONFIRM)
    assert client.get(link).status_code == 404
    assert client.get(with_form(link, "/thumb")).status_code == 404
    assert alice_api.get(image["thumbnail_url"]).status_code == 200
    assert admin_api.get(image["url"]).status_code == 200
    refused = share(alice_api, image["id"])
    assert refused.status_code == 409 and refused.get_json()["code"] == "in_trash"
    # Restored: the same link works again (it was never revoked, only refused).
    alice_api.post(f"/api/v1/images/{image['id']}/restore")
    assert client.get(link).status_code == 200


def test_a_purged_image_is_404_for_everyone(client, alice_api, admin_api, image):
    link = path_of(share(alice_api, image["id"]).get_json()["url"])
    gone = alice_api.delete(f"/api/v1/images/{image['id']}?permanent=true", headers=CONFIRM)
    assert gone.status_code == 200
    for form in FORMS:
        assert alice_api.get(image["url"] + form).status_code == 404
        assert admin_api.get(image["url"] + form).status_code == 404
        assert client.get(with_form(link, form)).status_code == 404
