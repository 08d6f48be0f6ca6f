"""Issue 18, item 9: metrics survive a purge, and one bad row never stops the pipeline.

Before: the purge recorded deleted ids as strings, the UUID column refused the batch, the
batch was put back, and every later flush failed on the same row until a restart.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.core.db import utcnow
from app.core.extensions import db
from app.media import metrics
from app.media.models import MediaEvent, MediaStat, MediaTotals
from tests.media.conftest import picture

CONFIRM = {"X-Confirm-Delete": "yes"}


def _rows(app, model):
    with app.app_context():
        rows = db.session.execute(select(model)).scalars().all()
        db.session.commit()
        return rows


def _flush(app):
    with app.app_context():
        return metrics.flush(app)


def test_empty_trash_then_flush_keeps_writing(app, alice_api):
    kept, gone = (alice_api.upload(picture((64, 48)), name=f"{n}.png").get_json()
                  for n in ("kept", "gone"))
    assert alice_api.delete(f"/api/v1/images/{gone['id']}", headers=CONFIRM).status_code == 200
    assert alice_api.delete("/api/v1/trash", headers=CONFIRM).status_code == 200
    with app.app_context():  # what the purge used to record: the id as a string
        metrics.record_event("delete", gone["id"])
    assert alice_api.get(kept["thumbnail_url"]).status_code == 200
    _flush(app)
    assert _flush(app) == 0  # nothing given back to fail again
    alice_api.get(kept["thumbnail_url"])
    _flush(app)
    (stat,) = _rows(app, MediaStat)
    assert stat.proxy_requests == 2
    deletes = [e for e in _rows(app, MediaEvent) if e.kind == "delete"]
    assert [str(e.image_id) for e in deletes].count(gone["id"]) >= 1


def test_one_row_the_database_refuses_is_dropped_not_the_batch(app, alice_api):
    image = alice_api.upload(picture((64, 48)), name="a.png").get_json()
    alice_api.get(image["thumbnail_url"])
    rec = metrics.recorder(app)
    with rec.lock:  # a row no coercion caught: the database refuses it
        rec.events.append((utcnow(), "not-a-uuid", "view", None, None, 200, False, 1))
        rec.stats[12345][2] += 1
    _flush(app)
    assert rec.dropped_rows == 2
    assert [s.proxy_requests for s in _rows(app, MediaStat)] == [1]
    views = [e for e in _rows(app, MediaEvent) if e.kind == "view"]
    assert [str(e.image_id) for e in views] == [image["id"]]
    alice_api.get(image["thumbnail_url"])
    _flush(app)  # the pipeline goes on
    assert [s.proxy_requests for s in _rows(app, MediaStat)] == [2]
    # The totals row counted what was written, not the refused row (it rode in its savepoint).
    assert [t.proxy_requests for t in _rows(app, MediaTotals)] == [2]


def test_ids_are_counted_as_uuids(app):
    with app.app_context():
        image_id = uuid.uuid4()
        metrics.record_event("delete", str(image_id))
        metrics.record_event("delete", 42)  # not an id: logged, not counted
        (event,) = metrics.recorder(app).events
    assert event[1] == image_id
