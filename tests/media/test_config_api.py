"""GET/PATCH /api/v1/admin/media/config: every key validated, audited, applied everywhere."""

from __future__ import annotations

import pytest

from app.audit.models import AuditEvent
from app.core.extensions import db
from app.media.config import DEFAULTS, KEYS
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, build_app, login_api

URL = "/api/v1/admin/media/config"

GOOD = {
    "cache_enabled": False,
    "tracking_enabled": False,
    "cache_ttl_s": 60,
    "cache_max_bytes": 0,
    "browser_max_age_s": 31536000,
    "share_shared_max_age_s": 300,
    "events_retention_days": 365,
    "allowed_referrers": ["Example.org", "*.cdn.example.com"],
    "allow_empty_referrer": False,
    "rate_limits": {"per_minute": 1, "per_hour": 10**9},
    "allow_ips": ["10.0.0.0/8", "2001:db8::/32"],
    "block_ips": ["192.0.2.7", "2001:db8::1"],
    "auto_block": {"threshold_per_image_per_hour": 5, "block_for_s": 0},
    "block_scope": "site",
    "webhook_url": "https://hooks.example.org/papelera",
    "webhook_secret": "s3cret-value",
}

BAD = [
    ("cache_enabled", "yes"), ("tracking_enabled", 1), ("cache_ttl_s", 0),
    ("cache_ttl_s", 604801), ("cache_ttl_s", True), ("cache_max_bytes", -1),
    ("cache_max_bytes", 100 * 1024 * 1024 + 1), ("browser_max_age_s", 31536001),
    ("share_shared_max_age_s", 301), ("share_shared_max_age_s", -1),
    ("share_shared_max_age_s", "60"),
    ("events_retention_days", 0), ("events_retention_days", 366), ("events_retention_days", "30"),
    ("allowed_referrers", "example.org"), ("allowed_referrers", ["not a domain"]),
    ("allow_empty_referrer", None), ("rate_limits", {"per_minute": 0}),
    ("rate_limits", {"per_hour": 10**9 + 1}), ("rate_limits", 5),
    ("allow_ips", ["10.0.0.300"]), ("block_ips", ["nonsense/8"]),
    ("block_ips", ["198.51.100.1/24"]), ("block_ips", "1.2.3.4"),
    ("auto_block", {"threshold_per_image_per_hour": 0}), ("auto_block", {"block_for_s": -1}),
    ("block_scope", "everything"), ("webhook_url", "ftp://example.org/x"),
    ("webhook_url", 42), ("webhook_secret", 42),
]


def test_defaults_are_specs(admin_api):
    response = admin_api.get(URL)
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**DEFAULTS.public(), "webhook_secret_set": False}
    assert body["cache_ttl_s"] == 86400 and body["cache_max_bytes"] == 5 * 1024 * 1024
    assert body["rate_limits"] == {"per_minute": 600, "per_hour": 20000, "per_day": 200000}
    assert body["auto_block"] == {"threshold_per_image_per_hour": 1000, "block_for_s": 86400}
    assert body["block_scope"] == "media" and body["webhook_url"] is None
    assert body["share_shared_max_age_s"] == 60
    assert "webhook_secret" not in body
    assert set(body) == (set(KEYS) - {"webhook_secret"}) | {"webhook_secret_set"}


def test_patch_every_key_answers_the_whole_config(admin_api):
    response = admin_api.patch(URL, json=GOOD)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["allowed_referrers"] == ["*.cdn.example.com", "example.org"]
    assert body["rate_limits"] == {"per_minute": 1, "per_hour": 10**9, "per_day": 200000}
    assert body["allow_ips"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert body["block_ips"] == ["192.0.2.7/32", "2001:db8::1/128"]
    assert body["webhook_secret_set"] is True and "webhook_secret" not in body
    assert admin_api.get(URL).get_json() == body
    # A partial nested change keeps the other nested keys.
    again = admin_api.patch(URL, json={"rate_limits": {"per_day": 5}}).get_json()
    assert again["rate_limits"] == {"per_minute": 1, "per_hour": 10**9, "per_day": 5}


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_bad_values_are_400_naming_the_field(admin_api, field, value):
    response = admin_api.patch(URL, json={field: value})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid_config"
    assert body["field"].split(".")[0] == field
    assert admin_api.get(URL).get_json() == {**DEFAULTS.public(), "webhook_secret_set": False}


def test_unknown_keys_and_non_objects_are_refused(admin_api):
    unknown = admin_api.patch(URL, json={"cache_enabled": True, "turbo": 1})
    assert unknown.status_code == 400 and unknown.get_json()["field"] == "turbo"
    nested = admin_api.patch(URL, json={"rate_limits": {"per_week": 3}})
    assert nested.status_code == 400 and nested.get_json()["field"] == "rate_limits.per_week"
    listed = admin_api.patch(URL, json=[1, 2])
    assert listed.status_code == 400 and listed.get_json()["code"] == "invalid_json"
    assert admin_api.patch(URL, data="{", content_type="application/json").status_code == 400


def test_only_admins(app, client, alice_api):
    assert client.get(URL).status_code == 401
    assert client.patch(URL, json={"cache_enabled": False}).status_code == 401
    assert alice_api.get(URL).status_code == 403
    assert alice_api.patch(URL, json={"cache_enabled": False}).status_code == 403


def _changes(app) -> list[dict]:
    with app.app_context():
        events = db.session.query(AuditEvent).filter_by(action="media_config_changed").all()
        db.session.commit()
        return [e.details["changes"] for e in events]


def test_each_change_is_audited_with_old_and_new_and_no_secret(app, admin_api):
    admin_api.patch(URL, json={"cache_ttl_s": 120, "webhook_secret": "hunter2-secret",
                               "block_ips": ["198.51.100.0/24"]})
    admin_api.patch(URL, json={"cache_ttl_s": 120})  # nothing changes: no event
    admin_api.patch(URL, json={"webhook_secret": None})
    changes = _changes(app)
    assert len(changes) == 2
    assert changes[0]["cache_ttl_s"] == {"old": 86400, "new": 120}
    assert changes[0]["block_ips"] == {"old": [], "new": ["198.51.100.0/24"]}
    assert changes[0]["webhook_secret"] == {"old": None, "new": "***"}
    assert changes[1] == {"webhook_secret": {"old": "***", "new": None}}
    with app.app_context():
        dumped = str([e.details for e in db.session.query(AuditEvent).all()])
        db.session.commit()
    assert "hunter2" not in dumped
    assert "hunter2" not in admin_api.get(URL).get_data(as_text=True)
    assert admin_api.get(URL).get_json()["webhook_secret_set"] is False


def test_a_change_applies_on_the_next_request_of_another_instance(app, admin_api, alice_api,
                                                                 tmp_path):
    """Two apps on one database (two workers): the other sees the change without a restart."""
    other = build_app(tmp_path / "other", SQLALCHEMY_DATABASE_URI=app.config[
        "SQLALCHEMY_DATABASE_URI"], MEDIA_CONFIG_CHECK_S=0, BOOTSTRAP_ADMIN=False)
    # The same user store as the first app (mongomock lives in one process).
    for name in ("papelera.mongo", "papelera.users"):
        other.extensions[name] = app.extensions[name]
    other.extensions["papelera.storage"] = app.extensions["papelera.storage"]
    try:
        other_client = other.test_client()
        other_api_token = login_api(other_client, "founder", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {other_api_token}"}
        assert other_client.get(URL, headers=headers).get_json()["cache_enabled"] is True
        image = alice_api.upload().get_json()
        first = alice_api.get(image["thumbnail_url"])
        assert first.headers["X-Cache"] == "MISS"

        assert admin_api.patch(URL, json={"cache_enabled": False,
                                          "browser_max_age_s": 7}).status_code == 200
        assert other_client.get(URL, headers=headers).get_json()["cache_enabled"] is False
        with other.app_context():
            from app.media.config import media_config

            assert media_config().browser_max_age_s == 7
        # the other app's next /media request, and the first app's own
        alice_token = login_api(other_client, alice_api.user.username, USER_PASSWORD)
        served = other_client.get(image["thumbnail_url"],
                                  headers={"Authorization": f"Bearer {alice_token}"})
        assert served.headers["X-Cache"] == "BYPASS"
        assert served.headers["Cache-Control"] == "private, max-age=7"
        assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "BYPASS"
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(("name", "value"), [("MEDIA_FLUSH_INTERVAL_S", "0"),
                                             ("MEDIA_FLUSH_INTERVAL_S", "soon"),
                                             ("MEDIA_CONFIG_CHECK_S", "-1"),
                                             ("MEDIA_CONFIG_CHECK_S", "61"),
                                             ("MEDIA_LOCAL_CACHE_BYTES", "-1"),
                                             ("MEDIA_LOCAL_CACHE_BYTES", "lots"),
                                             ("MEDIA_ACCESS_CACHE_MAX_AGE_S", "3601"),
                                             ("MEDIA_ACCESS_RECHECK_S", "-1"),
                                             ("MEDIA_ACCESS_RECHECK_S", "often")])
def test_bad_media_settings_stop_the_start(tmp_path, name, value):
    from app.core.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=name):
        load_settings({"PAPELERA_INSTANCE": str(tmp_path), name: value})
    good = load_settings({"PAPELERA_INSTANCE": str(tmp_path)})
    assert (good["MEDIA_FLUSH_INTERVAL_S"], good["MEDIA_CONFIG_CHECK_S"]) == (10, 1.0)
    assert (good["MEDIA_LOCAL_CACHE_BYTES"], good["MEDIA_ACCESS_CACHE_MAX_AGE_S"]) == \
        (32 * 2**20, 60)
    assert good["MEDIA_ACCESS_RECHECK_S"] == 1.0
