"""Usage metrics: counted per request in memory, flushed in batches, stats, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from app.core.db import utcnow
from app.core.extensions import db
from app.media import metrics
from app.media.metrics import flush, prune_events, truncate_ip
from app.media.models import MediaEvent, MediaHourly, MediaStat, MediaTotals
from tests.media.conftest import picture

STATS = "/api/v1/admin/media/stats"
CONFIG = "/api/v1/admin/media/config"


@pytest.fixture
def image(alice_api):
    response = alice_api.upload(picture((640, 480)), name="holiday.png")
    assert response.status_code == 201
    return response.get_json()


def _flush(app):
    with app.app_context():
        flush(app)


def _rows(app, model):
    with app.app_context():
        rows = db.session.execute(select(model)).scalars().all()
        db.session.commit()
        return rows


def test_requests_are_counted_and_stats_include_unflushed_counts(app, admin_api, alice_api,
                                                                 image):
    thumb = image["thumbnail_url"]
    first = alice_api.get(thumb)
    assert first.headers["X-Cache"] == "MISS"
    hit = alice_api.get(thumb)
    assert hit.headers["X-Cache"] == "HIT"
    etag = hit.headers["ETag"]
    assert alice_api.get(thumb, headers={"If-None-Match": etag}).status_code == 304
    assert alice_api.get(image["url"] + "?download=1").status_code == 200

    stats = admin_api.get(STATS).get_json()  # nothing flushed yet
    assert _rows(app, MediaStat) == []
    assert stats["requests"] == 4
    assert stats["cache_hits"] == 1
    assert stats["storage_reads_saved"] == 2  # the HIT and the 304
    assert stats["hit_ratio"] == 0.5
    assert stats["bytes_saved"] == len(hit.data)
    assert stats["bytes_served"] == len(first.data) + len(hit.data) + len(picture((640, 480)))
    assert stats["top_images"][0]["id"] == image["id"]
    assert stats["top_images"][0]["downloads"] == 1 and stats["top_images"][0]["views"] == 3
    assert sum(point["requests"] for point in stats["series"]) == 4
    assert len(stats["series"]) == 24
    assert stats["storage_per_user"][0]["username"] == "alice"

    _flush(app)
    (row,) = _rows(app, MediaStat)
    assert (row.proxy_requests, row.views, row.downloads, row.cache_hits) == (4, 3, 1, 1)
    assert admin_api.get(STATS).get_json()["requests"] == 4  # flushed: not counted twice
    alice_api.get(thumb)
    assert admin_api.get(STATS).get_json()["requests"] == 5
    _flush(app)
    (row,) = _rows(app, MediaStat)
    assert row.proxy_requests == 5
    assert sum(h.proxy_requests for h in _rows(app, MediaHourly)) == 5


def test_the_totals_row_is_every_flush_summed_and_the_doctor_repairs_it(app, admin_api,
                                                                        alice_api, image):
    """The stats' totals are one row the flush adds to in its own transaction (issue 19,
    per image metrics rolled up), never a sum over ``media_stats`` when read."""
    alice_api.get(image["thumbnail_url"])
    alice_api.get(image["thumbnail_url"])
    _flush(app)
    other = alice_api.upload(picture((300, 500)), name="tall.png").get_json()
    alice_api.get(other["url"] + "?download=1")
    alice_api.get(image["url"])
    _flush(app)
    (totals,) = _rows(app, MediaTotals)
    stats = _rows(app, MediaStat)
    assert len(stats) == 2
    for name in metrics.STAT_FIELDS:
        assert getattr(totals, name) == sum(getattr(row, name) for row in stats), name
    assert (totals.proxy_requests, totals.downloads) == (4, 1)
    reads = []

    def spy(_conn, _cursor, statement, *_args):
        reads.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        assert admin_api.get(STATS).get_json()["requests"] == 4
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert not [r for r in reads if "sum(" in r and "media_stats" in r]

    with app.app_context():  # drift, as a restore of an old backup might leave
        db.session.execute(MediaTotals.__table__.update().values(proxy_requests=40, views=0))
        db.session.commit()
    runner = app.test_cli_runner()
    found = runner.invoke(args=["doctor", "--counters", "--dry-run"])
    assert found.exit_code == 1, found.output
    assert "drift in the media totals: views 0 -> 3, proxy_requests 40 -> 4" in found.output
    assert admin_api.get(STATS).get_json()["requests"] == 40  # a dry run changes nothing
    fixed = runner.invoke(args=["doctor", "--counters"])
    assert fixed.exit_code == 0 and "repaired the media totals" in fixed.output, fixed.output
    assert admin_api.get(STATS).get_json()["requests"] == 4
    again = runner.invoke(args=["doctor", "--counters"])
    assert "every counter matches the rows" in again.output


@pytest.mark.parametrize("pause", ["before_totals", "after_totals"])
def test_a_repair_racing_a_flush_leaves_the_totals_equal_to_the_sum(app, alice_api, image,
                                                                    monkeypatch, pause):
    """``flask doctor --counters`` repairing the totals while a flush is between its
    statements: the flush's counts are either in the repair's sum or added after its
    write, never lost or counted twice. The race that would lose them: the repair sums,
    the flush adds to the row and commits, the repair writes its (older) sum. The row's
    lock (SQLite: the write lock) makes the flush wait for the repair instead."""
    import threading

    alice_api.get(image["thumbnail_url"])
    _flush(app)
    with app.app_context():  # drift to repair
        db.session.execute(MediaTotals.__table__.update().values(proxy_requests=99))
        db.session.commit()
    for _ in range(3):
        alice_api.get(image["thumbnail_url"])
    flush_paused, go_flush = threading.Event(), threading.Event()
    repair_summed, go_repair = threading.Event(), threading.Event()
    upsert, summed = metrics._upsert, metrics._summed

    def pausing_upsert(model, key, rows, fields):
        if model is MediaTotals and pause == "before_totals":
            flush_paused.set()
            go_flush.wait(10)
        upsert(model, key, rows, fields)
        if model is MediaTotals and pause == "after_totals":
            flush_paused.set()
            go_flush.wait(10)

    def pausing_sum():
        found = summed()
        repair_summed.set()
        go_repair.wait(10)
        return found

    monkeypatch.setattr(metrics, "_upsert", pausing_upsert)
    monkeypatch.setattr(metrics, "_summed", pausing_sum)
    errors, repaired = [], []

    def run(work):
        def body():
            try:
                with app.app_context():
                    work()
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
        thread = threading.Thread(target=body)
        thread.start()
        return thread

    flushing = run(lambda: flush(app))
    assert flush_paused.wait(10)
    repairing = run(lambda: repaired.append(metrics.repair_totals()))
    repair_summed.wait(0.5)  # or waiting for the flush's lock (SQLite; the row, after it)
    go_flush.set()
    flushing.join(0.5)  # done, or waiting for the repair's lock
    go_repair.set()
    flushing.join(10)
    repairing.join(10)
    assert not errors and not flushing.is_alive() and not repairing.is_alive()
    assert repaired and repaired[0] is not None  # the drift was found and repaired
    (totals,) = _rows(app, MediaTotals)
    (stat,) = _rows(app, MediaStat)
    assert totals.proxy_requests == stat.proxy_requests == 4
    with app.app_context():
        assert metrics.totals_drift() is None


def test_the_stats_answer_while_the_user_store_cannot_name_the_owners(app, admin_api, alice_api,
                                                                     image, monkeypatch):
    """The owners' names come from the user store; when it does not answer, the numbers
    still do, every owner shown as "(deleted user)", and the page renders."""
    from pymongo.errors import ServerSelectionTimeoutError

    from app.users.repository import get_users

    alice_api.get(image["thumbnail_url"])
    with app.app_context():
        store = type(get_users())

    def down(_self, _ids):
        raise ServerSelectionTimeoutError("user store unreachable")

    monkeypatch.setattr(store, "names", down)
    response = admin_api.get(STATS)
    assert response.status_code == 200
    stats = response.get_json()
    assert stats["requests"] == 1
    assert [row["username"] for row in stats["storage_per_user"]] == ["(deleted user)"]
    assert stats["storage_per_user"][0]["bytes"] > 0
    page = admin_api.get("/admin/media")
    assert page.status_code == 200 and "(deleted user)" in page.get_data(as_text=True)


def test_no_sql_write_per_request(app, alice_api, image):
    """Serving writes nothing to SQL; the flush writes the batch."""
    alice_api.get(image["thumbnail_url"])  # MISS: the cache fill, not counted below
    with app.app_context():
        engine = db.engine
    writes = []

    def spy(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        for _ in range(20):
            assert alice_api.get(image["thumbnail_url"]).headers["X-Cache"] == "HIT"
        assert [w for w in writes if "media_" in w] == []
        _flush(app)
        assert any("media_stats" in w for w in writes)
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def test_access_events_keep_a_truncated_ip_and_the_lifecycle(app, admin_api, alice_api, image):
    alice_api.get(image["thumbnail_url"], environ_base={"REMOTE_ADDR": "203.0.113.77"},
                  headers={"User-Agent": "Probe/1.0"})
    alice_api.get(image["url"] + "?w=320", environ_base={"REMOTE_ADDR": "2001:db8:1:2::5"})
    assert admin_api.delete(f"/api/v1/images/{image['id']}",
                            headers={"X-Confirm-Delete": "yes"}).status_code in (200, 204)
    _flush(app)
    events = _rows(app, MediaEvent)
    kinds = [e.kind for e in events]
    assert "upload" in kinds and "variant" in kinds and "delete" in kinds
    views = [e for e in events if e.kind == "view"]
    assert {e.ip for e in views} == {"203.0.113.0/24", "2001:db8:1::/48"}
    assert any(e.user_agent == "Probe/1.0" and e.status == 200 and e.cache_hit is False
               for e in views)


def test_truncate_ip():
    assert truncate_ip("192.168.10.200") == "192.168.10.0/24"
    assert truncate_ip("::ffff:10.1.2.3") == "10.1.2.0/24"
    assert truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert truncate_ip("garbage") is None and truncate_ip(None) is None


def test_events_past_retention_are_pruned(app, admin_api, alice_api, image):
    alice_api.get(image["thumbnail_url"])
    _flush(app)
    with app.app_context():
        db.session.add(MediaEvent(at=utcnow() - timedelta(days=8), kind="view"))
        db.session.add(MediaEvent(at=utcnow() - timedelta(days=40), kind="view"))
        db.session.commit()
    assert admin_api.patch(CONFIG, json={"events_retention_days": 7}).status_code == 200
    with app.app_context():
        assert prune_events() == 2
        left = db.session.execute(select(func.count(MediaEvent.id))).scalar_one()
        oldest = db.session.execute(select(func.min(MediaEvent.at))).scalar_one()
        db.session.commit()
    assert left >= 2  # the upload and the view of today
    assert oldest > utcnow() - timedelta(days=7)


def test_tracking_off_counts_nothing(app, admin_api, alice_api, image):
    assert admin_api.patch(CONFIG, json={"tracking_enabled": False}).status_code == 200
    for _ in range(3):
        assert alice_api.get(image["thumbnail_url"]).status_code == 200
    assert admin_api.get(STATS).get_json()["requests"] == 0
    _flush(app)
    assert _rows(app, MediaStat) == []
    assert admin_api.patch(CONFIG, json={"tracking_enabled": True}).status_code == 200
    alice_api.get(image["thumbnail_url"])
    assert admin_api.get(STATS).get_json()["requests"] == 1


def test_a_failed_flush_keeps_its_counts(app, admin_api, alice_api, image, monkeypatch):
    alice_api.get(image["thumbnail_url"])
    import app.media.metrics as metrics

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database down"))

    monkeypatch.setattr(metrics, "_upsert", broken)
    with app.app_context(), pytest.raises(OperationalError):
        flush(app)
    monkeypatch.undo()
    assert admin_api.get(STATS).get_json()["requests"] == 1
    _flush(app)
    assert _rows(app, MediaStat)[0].proxy_requests == 1


def test_heavy_images_and_trash_bytes(app, admin_api, alice_api, image, monkeypatch):
    import io

    from PIL import Image as PILImage

    import app.media.stats as stats_module

    # Small enough to stay in memory in the test client's form parser.
    monkeypatch.setattr(stats_module, "HEAVY_MIN_BYTES", 100_000)
    noise = PILImage.effect_noise((300, 300), 80).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="PNG")
    heavy = alice_api.upload(out.getvalue(), name="heavy.png").get_json()
    assert heavy["size_bytes"] >= 100_000
    stats = admin_api.get(STATS).get_json()
    assert [i["id"] for i in stats["heavy_images"]] == [heavy["id"]]
    assert stats["trash_bytes"] == 0
    for _ in range(3):
        alice_api.get(heavy["url"])
    stats = admin_api.get(STATS).get_json()
    assert stats["heavy_images"] == []  # viewed more than rarely
    assert alice_api.delete(f"/api/v1/images/{image['id']}",
                            headers={"X-Confirm-Delete": "yes"}).status_code in (200, 204)
    assert admin_api.get(STATS).get_json()["trash_bytes"] > 0


def test_stats_only_for_admins(client, alice_api):
    assert client.get(STATS).status_code == 401
    assert alice_api.get(STATS).status_code == 403


def test_a_deletion_is_counted_once_however_the_image_leaves(app, alice_api):
    """N7: metrics count what happened (an image left the gallery), once per image, not
    once per cache eviction (a permanent delete used to count three times)."""
    def deletes(image_id):
        _flush(app)
        return sum(1 for e in _rows(app, MediaEvent)
                   if e.kind == "delete" and str(e.image_id) == image_id)

    trashed, erased = (alice_api.upload(picture((64, 48)), name=f"{n}.png").get_json()["id"]
                       for n in ("trashed", "erased"))
    confirm = {"X-Confirm-Delete": "yes"}
    assert alice_api.delete(f"/api/v1/images/{trashed}", headers=confirm).status_code == 200
    assert deletes(trashed) == 1
    assert alice_api.delete(f"/api/v1/images/{trashed}?permanent=true",
                            headers=confirm).status_code == 200
    assert deletes(trashed) == 1  # emptied from the trash: no second deletion
    assert alice_api.delete(f"/api/v1/images/{erased}?permanent=true",
                            headers=confirm).status_code == 200
    assert deletes(erased) == 1
