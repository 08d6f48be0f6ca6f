"""A purge run is audited as what it was: a run that failed is an ``error``, not ``ok``."""

from __future__ import annotations

from app.purge import service as purge_service
from tests.helpers import audit_count, audit_since, last_audit
from tests.purge.conftest import EXPIRED, add_images

YES = {"X-Confirm-Delete": "yes"}


def test_a_failed_run_is_audited_as_error(app, admin_api, owner, monkeypatch):
    add_images(app, owner.id, 2, EXPIRED)

    def broken(run, condition):
        raise RuntimeError("the database went away mid-run")

    monkeypatch.setattr(purge_service, "_purge_due", broken)
    before = audit_count(app)
    response = admin_api.delete("/api/v1/admin/purge", headers=YES)
    assert response.status_code == 200
    assert response.get_json()["status"] == "failed"
    runs = [pair for pair in audit_since(app, before) if pair[0] == "purge_run"]
    assert runs == [("purge_run", "started"), ("purge_run", "error")]
    assert last_audit(app).details["status"] == "failed"


def test_a_finished_run_is_audited_as_ok(app, admin_api, owner):
    add_images(app, owner.id, 2, EXPIRED)
    before = audit_count(app)
    response = admin_api.delete("/api/v1/admin/purge", headers=YES)
    assert response.get_json()["status"] == "finished"
    runs = [pair for pair in audit_since(app, before) if pair[0] == "purge_run"]
    assert runs == [("purge_run", "started"), ("purge_run", "ok")]


def test_the_queue_etag_changes_when_its_contents_change(app, admin_api, owner):
    add_images(app, owner.id, 1, EXPIRED, size=100)
    shown = admin_api.delete("/api/v1/admin/purge?dry_run=true").get_json()
    # The image shown is purged and another of the same size becomes due: equal totals.
    assert admin_api.delete("/api/v1/admin/purge", headers=YES).status_code == 200
    add_images(app, owner.id, 1, EXPIRED, size=100)
    now = admin_api.delete("/api/v1/admin/purge?dry_run=true").get_json()
    assert now["consequences"] == shown["consequences"]
    refused = admin_api.delete("/api/v1/admin/purge", headers={**YES, "If-Match": shown["etag"]})
    assert refused.status_code == 412
