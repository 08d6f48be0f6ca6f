"""The per-owner counters under concurrent requests (8 threads on one owner's rows, on
SQLite and PostgreSQL), and migration 0013's backfill on both engines."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.core.extensions import db
from tests.conftest import png_bytes
from tests.images.test_counters import assert_exact, upload

THREADS = 8
ROUNDS = 4


def run_together(threads: list[threading.Thread], failures: list[str]) -> None:
    """Start them all, wait for each (5 minutes at most), and fail on what they hit."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_eight_threads_on_one_owner_leave_the_counters_exact(app, alice_api):
    """Every thread uploads, trashes and restores its own images and fights over two
    shared ones (trash, restore, bulk restore, empty trash of the same rows): whatever
    wins each race, and however many lose it, the counters equal a recount at the end."""
    shared = upload(alice_api, 2)
    headers = {"Authorization": f"Bearer {alice_api.token}", "X-Confirm-Delete": "yes"}
    failures: list[str] = []
    start = threading.Barrier(THREADS)

    def expect(response, *allowed):
        if response.status_code not in allowed:
            failures.append(f"{response.request.method} {response.request.path}: "
                            f"{response.status_code} {response.get_data(as_text=True)[:200]}")

    def worker(n: int) -> None:
        client = app.test_client()
        try:
            start.wait(timeout=30)
            for r in range(ROUNDS):
                data = {"file": (io.BytesIO(png_bytes(color=(n, r, 99))), "p.png")}
                made = client.post("/api/v1/images", data=data, headers=headers,
                                   content_type="multipart/form-data")
                expect(made, 201)
                mine = made.get_json()["id"] if made.status_code == 201 else None
                other = shared[(n + r) % 2]  # every thread after the same two rows
                expect(client.delete(f"/api/v1/images/{other}", headers=headers), 200, 404)
                if mine:
                    expect(client.delete(f"/api/v1/images/{mine}", headers=headers), 200)
                expect(client.post(f"/api/v1/images/{other}/restore", headers=headers),
                       200, 404, 409)
                expect(client.post("/api/v1/trash/restore", headers=headers,
                                   json={"ids": [mine, *shared[:2]]}), 200)
                if r == ROUNDS - 1 and mine:
                    expect(client.delete(f"/api/v1/images/{mine}?permanent=true",
                                         headers=headers), 200, 404, 409)
                if n == 0 and r == 1:
                    expect(client.delete("/api/v1/trash", headers=headers), 200, 503)
        except Exception as exc:  # noqa: BLE001  (reported below, with the others)
            failures.append(repr(exc))

    run_together([threading.Thread(target=worker, args=(n,)) for n in range(THREADS)],
                 failures)
    numbers = assert_exact(app)[alice_api.user.id]
    assert numbers[0] + numbers[2] >= 1  # something is left to be counted


def test_a_purge_across_owners_while_they_trash_and_restore(app, admin_api, api_for,
                                                            make_user):
    """A purge run (one statement over many owners' rows, their counter rows written in
    owner order) while four owners trash and restore their own images and upload new
    ones: no deadlock, no lost delta."""
    from sqlalchemy import update

    from app.core.db import utcnow
    from app.images.models import Image, with_trashed

    owners = [api_for(make_user(f"owner{n}")) for n in range(4)]
    for api in owners:
        for image_id in upload(api, 4):
            assert api.delete(f"/api/v1/images/{image_id}",
                              headers={"X-Confirm-Delete": "yes"}).status_code == 200
    with app.app_context():  # every trashed row is due: the purge takes them all
        db.session.execute(with_trashed(update(Image).where(Image.is_deleted.is_(True))
                                        .values(purge_after=utcnow())))
        db.session.commit()
    failures: list[str] = []
    start = threading.Barrier(len(owners) + 1)

    def owner_work(api) -> None:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {api.token}", "X-Confirm-Delete": "yes"}
        try:
            start.wait(timeout=30)
            for r in range(3):
                made = client.post("/api/v1/images", headers=headers,
                                   content_type="multipart/form-data",
                                   data={"file": (io.BytesIO(png_bytes(color=(r, 1, 2))),
                                                  "p.png")})
                if made.status_code != 201:
                    failures.append(f"upload {made.status_code}")
                    continue
                mine = made.get_json()["id"]
                for response in (client.delete(f"/api/v1/images/{mine}", headers=headers),
                                 client.post("/api/v1/trash/restore", headers=headers,
                                             json={"all": True})):
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.get_json()}")
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))

    def purge() -> None:
        try:
            start.wait(timeout=30)
            client = app.test_client()
            response = client.delete("/api/v1/admin/purge", headers={
                "Authorization": f"Bearer {admin_api.token}", "X-Confirm-Delete": "yes"})
            if response.status_code != 200:
                failures.append(f"purge {response.status_code} {response.get_json()}")
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))

    run_together([*(threading.Thread(target=owner_work, args=(api,)) for api in owners),
                  threading.Thread(target=purge)], failures)
    assert_exact(app)


def backfilled(tmp_path, url: str) -> None:
    """Rows written at 0012, then ``upgrade`` to head: ``owner_totals`` says what they are."""
    from tests.integration.test_migrations import MIGRATIONS, migrated_app

    app = migrated_app(tmp_path, url, revision="0012")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    # owner a: 2 active, 1 trashed, 1 being purged; owner b: 1 trashed.
    rows = [("a", False, None, 100, 10, 0), ("a", False, None, 200, 20, 5),
            ("a", True, None, 300, 30, 0), ("a", True, "purging", 400, 40, 7),
            ("b", True, None, 50, 5, 0)]
    with app.app_context():
        images = sa.Table("images", sa.MetaData(), autoload_with=db.engine)
        with db.engine.begin() as conn:
            for n, (owner, deleted, state, size, thumb, variants) in enumerate(rows):
                image_id = uuid.uuid4()
                conn.execute(images.insert().values(
                    id=image_id.hex, owner_id=owner, file_name=f"f{n}.png",
                    storage_key=f"originals/{n}", thumbnail_key=f"thumbnails/{n}",
                    content_type="image/png", size_bytes=size, thumbnail_bytes=thumb,
                    variant_bytes=variants, width=1, height=1, sha256="0" * 64,
                    created_at=now, is_deleted=deleted, deleted_at=now if deleted else None,
                    purge_state=state, version=1))
        upgrade(directory=MIGRATIONS, revision="head")
        with db.engine.connect() as conn:
            found = {row[0]: tuple(row[1:]) for row in conn.execute(sa.text(
                "SELECT owner_id, active_count, active_bytes, trashed_count, trashed_bytes, "
                "purging_count, purging_bytes, trash_changes FROM owner_totals"))}
        db.engine.dispose()
    assert found == {"a": (2, 335, 2, 777, 1, 447, 0), "b": (0, 0, 1, 55, 0, 0, 0)}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migration_0013_backfills_on_both_engines(tmp_path, engine, request):
    url = (request.getfixturevalue("pg_url") if engine == "postgresql"
           else f"sqlite:///{tmp_path / 'b.db'}")
    backfilled(tmp_path, url)
