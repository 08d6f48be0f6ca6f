"""Issue 18, item 12 (security N5): share links follow their owner. A deactivated or
deleted owner's links stop at once (404, as for an image that is gone); reactivated, they
serve again. Before: they served until their expiry (up to 30 days)."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.users.repository import get_users

YES = {"X-Confirm-Delete": "yes"}


def _link(alice_api, image_id) -> str:
    response = alice_api.post(f"/api/v1/images/{image_id}/share", json={"ttl_s": 3600})
    assert response.status_code == 201, response.get_json()
    parts = urlsplit(response.get_json()["url"])
    return f"{parts.path}/thumb?{parts.query}"


def test_a_deactivated_owners_links_stop_at_once_and_come_back(app, alice, alice_api,
                                                               admin_api):
    image = alice_api.upload().get_json()
    link = _link(alice_api, image["id"])
    visitor = app.test_client()
    assert visitor.get(link).status_code == 200
    assert visitor.get(link).status_code == 200  # now kept per process

    assert admin_api.patch(f"/api/v1/users/{alice.id}/deactivate",
                           headers=YES).status_code == 200
    refused = visitor.get(link)
    assert refused.status_code == 404
    assert refused.get_json()["code"] == "not_found"

    assert admin_api.patch(f"/api/v1/users/{alice.id}/activate").status_code == 200
    assert visitor.get(link).status_code == 200


def test_a_deleted_owners_links_stop(app, alice, alice_api):
    """The account gone from the user store (its images not yet erased, or a store that
    lost it): its links stop with the ``UserDeleted`` event."""
    image = alice_api.upload().get_json()
    link = _link(alice_api, image["id"])
    visitor = app.test_client()
    assert visitor.get(link).status_code == 200
    with app.app_context():
        assert get_users().delete(alice.id)
    assert visitor.get(link).status_code == 404
