"""Real engines under stress: two app processes, one purge; S3 stopped mid-purge."""

from __future__ import annotations

import os
import threading

import pytest
import requests
from sqlalchemy import func, select

from app.core.extensions import db
from app.images.models import Image, with_trashed
from app.purge.models import PurgeRun
from app.purge.service import purge_expired
from app.users.repository import get_users
from tests.conftest import build_app
from tests.purge.conftest import EXPIRED, add_images, assert_consistent, image_rows, stored_keys
from tests.support.seaweed import start_seaweedfs
from tests.support.server import AppServer


def test_two_app_processes_purge_exactly_once(tmp_path, pg_url, seaweed, monkeypatch):
    bucket = "twoworkers"
    seaweed.create_bucket(bucket)
    settings = {
        "DATABASE_URL": pg_url, "STORAGE_URL": seaweed.storage_url(bucket),
        "AWS_ACCESS_KEY_ID": seaweed.access_key, "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
        "MONGO_URI": f"litemongo://{tmp_path / 'mongo'}",
        "SECRET_KEY": "shared-secret-key-for-both-workers", "PURGE_BATCH_SIZE": "10",
        # Whichever takes the lease holds it a few seconds before its first batch, so the
        # other one's request meets it (without this, a quick first run could finish
        # before the second asks, and both would answer 200).
        "PAPELERA_PURGE_PAUSE_AT": "run_started",
        "PAPELERA_PURGE_PAUSE_FILE": str(tmp_path / "paused"),
        "PAPELERA_PURGE_PAUSE_MAX_S": "4",
    }
    first = AppServer(tmp_path / "a", **settings).start()
    second = AppServer(tmp_path / "b", **settings).start()  # migrations already applied
    try:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, settings[key])
        seeder = build_app(tmp_path / "seed", SQLALCHEMY_DATABASE_URI=pg_url,
                           STORAGE_URL=settings["STORAGE_URL"], MONGO_URI=settings["MONGO_URI"])
        with seeder.app_context():
            owner = get_users().by_username("founder").id
        expired = add_images(seeder, owner, 150, EXPIRED)
        token = requests.post(f"{first.url}/api/v1/auth/token", timeout=10, json={
            "username": "founder", "password": "founder-password"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "X-Confirm-Delete": "yes"}
        for server in (first, second):  # warm both up so they start at the same moment
            assert requests.get(f"{server.url}/api/v1/admin/purge", headers=headers,
                                timeout=10).status_code == 200
        barrier, answers = threading.Barrier(2), {}

        def trigger(server):
            barrier.wait()
            response = requests.delete(f"{server.url}/api/v1/admin/purge", headers=headers,
                                       timeout=60)
            answers[server.url] = (response.status_code, response.json())

        threads = [threading.Thread(target=trigger, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(status for status, _ in answers.values())
        assert statuses == [200, 409], answers
        ran = next(body for status, body in answers.values() if status == 200)
        refused = next(body for status, body in answers.values() if status == 409)
        assert refused["code"] == "purge_running"
        assert (ran["deleted"], ran["errors"], ran["remaining"]) == (len(expired), 0, 0)
        with seeder.app_context():
            assert db.session.execute(with_trashed(select(func.count(Image.id)))
                                      ).scalar_one() == 0
            runs = db.session.execute(select(PurgeRun)).scalars().all()
            assert len(runs) == 1 and runs[0].errors == 0 and runs[0].deleted == len(expired)
        assert seaweed.client().list_objects_v2(Bucket=bucket).get("Contents", []) == []
        with seeder.app_context():
            db.engine.dispose()
    finally:
        first.stop()
        second.stop()


class StopsTheServer:
    """A storage that lets ``calls`` DeleteObjects through, then stops the S3 server."""

    def __init__(self, inner, server, calls):
        self.inner, self.server, self.calls = inner, server, calls

    def delete_many(self, keys):
        if self.calls == 0 and self.server.process.poll() is None:
            self.server.stop()
        self.calls -= 1
        return self.inner.delete_many(keys)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_s3_stopped_mid_purge_loses_nothing_and_the_next_run_finishes(tmp_path, monkeypatch):
    try:
        server = start_seaweedfs(tmp_path / "s3", bucket="fault")
    except RuntimeError as exc:
        pytest.skip(f"SeaweedFS could not start: {exc}")
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'fault.db'}"
        app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=url,
                        STORAGE_URL=server.storage_url("fault"), PURGE_BATCH_SIZE=10)
        with app.app_context():
            owner = get_users().by_username("founder").id
        expired = add_images(app, owner, 60, EXPIRED)
        with app.app_context():
            from app.storage import get_storage

            flaky = StopsTheServer(get_storage(), server, calls=2)
            report = purge_expired(storage=flaky, trigger="cli")
        assert report.errors > 0 and report.deleted < len(expired)
        rows_left = image_rows(app)
        server.restart()
        # Nothing was lost: every row still there has both objects or is claimed for the
        # next run, and no object outlived its row.
        assert_consistent(app)
        with app.app_context():
            second = purge_expired(trigger="cli")
        assert second.errors == 0
        assert second.deleted + report.deleted == len(expired)
        assert len(rows_left) == len(expired) - report.deleted
        assert image_rows(app) == {}
        assert stored_keys(app) == set()
        with app.app_context():
            db.engine.dispose()
    finally:
        server.stop()
