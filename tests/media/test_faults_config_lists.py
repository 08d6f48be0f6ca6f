"""Issue 18, item 11 (code-review N3): list edits never lose entries, and the config has an
ETag that ``PATCH`` takes as ``If-Match``.

Before: ``add_entry``/``remove_entry`` rebuilt the whole list from this process's copy of
the settings (up to ``MEDIA_CONFIG_CHECK_S`` old), so an entry added through another
worker within that time was silently dropped.
"""

from __future__ import annotations

from sqlalchemy import update

from app.audit.service import SYSTEM
from app.core.db import begin_write
from app.core.extensions import db
from app.media.config import MediaSettings, media_config, stored_version
from app.media.protection_settings import add_entry, remove_entry
from tests.media.helpers import set_media_config

CONFIG = "/api/v1/admin/media/config"


def _another_worker_stores(app, **values):
    """What another process's change looks like to this one: the row moved, our copy not."""
    with app.app_context():
        begin_write()
        row = db.session.get(MediaSettings, 1)
        stored = {**(row.values or {}), **values}
        db.session.execute(update(MediaSettings).where(MediaSettings.id == 1)
                           .values(values=stored, version=MediaSettings.version + 1))
        db.session.commit()


def test_an_entry_added_by_another_worker_is_kept(app):
    app.config["MEDIA_CONFIG_CHECK_S"] = 3600  # this process's copy stays stale
    set_media_config(app, block_ips=["192.0.2.1/32"])
    with app.app_context():
        assert media_config().block_ips == ("192.0.2.1/32",)
    _another_worker_stores(app, block_ips=["192.0.2.1/32", "198.51.100.7/32"])
    with app.app_context():
        add_entry("block_ips", "203.0.113.5", SYSTEM)
        remove_entry("block_ips", "192.0.2.1/32", SYSTEM)
        row = db.session.get(MediaSettings, 1)
        assert row.values["block_ips"] == ["198.51.100.7/32", "203.0.113.5/32"]
        db.session.commit()


def test_patch_takes_if_match_and_answers_an_etag(app, admin_api):
    first = admin_api.get(CONFIG)
    etag = first.headers["ETag"]
    with app.app_context():
        assert etag == f'"media-config-{stored_version()}"'
    changed = admin_api.patch(CONFIG, json={"cache_ttl_s": 600}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    stale = admin_api.patch(CONFIG, json={"cache_ttl_s": 700}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.get_json()["code"] == "precondition_failed"
    assert admin_api.get(CONFIG).get_json()["cache_ttl_s"] == 600
    weak = admin_api.patch(CONFIG, json={"cache_ttl_s": 700},
                           headers={"If-Match": "W/" + changed.headers["ETag"]})
    assert weak.status_code == 412
    fresh = admin_api.patch(CONFIG, json={"cache_ttl_s": 700},
                            headers={"If-Match": changed.headers["ETag"]})
    assert fresh.status_code == 200
    assert admin_api.patch(CONFIG, json={"cache_ttl_s": 800}).status_code == 200  # no header
