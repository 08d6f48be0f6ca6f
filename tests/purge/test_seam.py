"""The crash-test seam (``checkpoint``) cannot hold a web worker's purge for good."""

from __future__ import annotations

import threading

from app.purge import service
from tests.purge.conftest import EXPIRED, add_images, image_rows

CONFIRM = {"X-Confirm-Delete": "yes"}


def purge_in_thread(admin_api) -> dict:
    """``DELETE /api/v1/admin/purge``, with a bound on how long the test waits for it."""
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(
        response=admin_api.delete("/api/v1/admin/purge", headers=CONFIRM)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the purge is stuck at a checkpoint"
    return answer


def test_a_leaked_pause_variable_alone_is_ignored(app, owner, admin_api, monkeypatch):
    add_images(app, owner.id, 2, EXPIRED)
    monkeypatch.setenv("PAPELERA_PURGE_PAUSE_AT", "run_started")
    monkeypatch.delenv("PAPELERA_PURGE_PAUSE_FILE", raising=False)
    response = purge_in_thread(admin_api)["response"]
    assert response.status_code == 200 and response.get_json()["deleted"] == 2
    assert image_rows(app) == {}


def test_a_pause_is_bounded(app, owner, admin_api, monkeypatch, tmp_path):
    add_images(app, owner.id, 1, EXPIRED)
    marker = tmp_path / "paused"
    monkeypatch.setattr(service, "_checkpoint_hits", {})  # counted per process
    monkeypatch.setenv("PAPELERA_PURGE_PAUSE_AT", "run_started")
    monkeypatch.setenv("PAPELERA_PURGE_PAUSE_FILE", str(marker))
    monkeypatch.setenv("PAPELERA_PURGE_PAUSE_MAX_S", "0")
    response = purge_in_thread(admin_api)["response"]
    assert marker.exists()  # it did pause there
    assert response.status_code == 200 and response.get_json()["deleted"] == 1
