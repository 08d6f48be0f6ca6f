"""Who holds SQL locks, and for how long (issue 8 item 6; SPEC sections 3 and 7).

On SQLite a reader must never hold the write lock: reads begin deferred, writers take
the lock up front (``begin_write``), auth lookups end their transaction before storage
calls, and the JSONL audit export reads each page in a short transaction. Every test
runs on both engines. Before the fix each "other request" below waited for SQLite's
30 s busy timeout and then failed with 503.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, select, update

from app.core.db import ReadThenWriteWarning, begin_write, end_read, utcnow
from app.core.extensions import db
from app.images.models import Image
from app.images.service import list_images
from tests.conftest import Api
from tests.helpers import image_row

CONFIRM = {"X-Confirm-Delete": "yes"}
WAIT_S = 60  # how long a test waits for the other thread before it fails


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def own_client(app, api: Api) -> Api:
    """The same user on a client of its own, for another thread."""
    return Api(app.test_client(), api.token, api.user)


def soft_delete(api: Api, image_id: str):
    return api.delete(f"/api/v1/images/{image_id}", headers=CONFIRM)


def test_a_jsonl_download_held_open_does_not_block_writers(app, admin_api, alice_api, pool):
    ids = [alice_api.upload().get_json()["id"] for _ in range(3)]
    assert soft_delete(alice_api, ids[0]).status_code == 200  # at least one event

    response = admin_api.get("/api/v1/audit?format=jsonl", buffered=False)
    assert response.status_code == 200
    lines = iter(response.response)
    first = json.loads(next(lines))  # the download is open, its generator suspended

    # Another user's write, from another thread, while the download is held open.
    deleted = pool.submit(soft_delete, own_client(app, alice_api), ids[1]).result(WAIT_S)
    assert deleted.status_code == 200, deleted.get_json()
    assert image_row(app, ids[1]).is_deleted

    rest = [json.loads(line) for line in lines]
    response.close()
    assert first["action"] == "soft_delete" and all("hash" in e for e in rest)


class BlockingStorage:
    """The app's storage, except that ``put`` waits until the test lets it go."""

    def __init__(self, inner):
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def put(self, *args, **kwargs):
        self.entered.set()
        if not self.release.wait(WAIT_S):
            raise AssertionError("the test never released the storage")
        return self.inner.put(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_token_upload_with_a_slow_store_does_not_block_other_writers(
        app, alice_api, api_for, make_user, pool, monkeypatch):
    bob_api = api_for(make_user("bob"))
    bobs = bob_api.upload().get_json()["id"]
    storage = BlockingStorage(app.extensions["papelera.storage"])
    monkeypatch.setitem(app.extensions, "papelera.storage", storage)

    upload = pool.submit(own_client(app, alice_api).upload)
    try:
        assert storage.entered.wait(WAIT_S), "the upload never reached storage.put"
        # Alice's bearer-token upload is inside storage.put: Bob writes meanwhile.
        deleted = soft_delete(bob_api, bobs)
        assert deleted.status_code == 200, deleted.get_json()
    finally:
        storage.release.set()
    assert upload.result(WAIT_S).status_code == 201


def test_an_open_read_blocks_neither_readers_nor_writers(app, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    with app.app_context(), db.engine.connect() as reader:
        # A read transaction left open, as a slow page render or download would.
        assert reader.execute(select(Image.id)).first() is not None
        assert reader.in_transaction()

        listed = alice_api.get("/api/v1/images")
        assert listed.status_code == 200 and listed.get_json()["items"]
        deleted = soft_delete(alice_api, image_id)
        assert deleted.status_code == 200, deleted.get_json()
        reader.rollback()


def test_a_second_writer_waits_for_the_first_instead_of_failing(app, alice_api, pool):
    """The writer's lock is taken before its reads, so it queues on the busy timeout.

    A writer that read first in a deferred transaction would fail at once ("database is
    locked") when it tried to write while the holder below still held the lock.
    """
    image_id = alice_api.upload().get_json()["id"]
    holding, waiting, release = threading.Event(), threading.Event(), threading.Event()
    holder_thread = []

    def hold():
        holder_thread.append(threading.get_ident())
        with app.app_context():
            begin_write()
            db.session.execute(update(Image).where(Image.id == uuid.UUID(image_id))
                               .values(file_name="held.png"))
            holding.set()
            assert release.wait(WAIT_S)
            db.session.commit()

    def note_other_writer(conn, cursor, statement, *args):
        # The delete's write begins here: at its BEGIN IMMEDIATE (it then waits for the
        # lock), or, had it read first in a deferred transaction, at its UPDATE.
        starts_writing = statement.startswith(("BEGIN IMMEDIATE", "UPDATE images"))
        if starts_writing and holding.is_set() and threading.get_ident() not in holder_thread:
            waiting.set()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note_other_writer)
    try:
        holder = pool.submit(hold)
        assert holding.wait(WAIT_S)
        deletion = pool.submit(soft_delete, own_client(app, alice_api), image_id)
        assert waiting.wait(WAIT_S)  # the delete has started on the database
        release.set()
        holder.result(WAIT_S)
        response = deletion.result(WAIT_S)
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", note_other_writer)
    assert response.status_code == 200, response.get_json()
    row = image_row(app, image_id)
    assert row.is_deleted and row.file_name == "held.png"


@pytest.fixture
def sqlite_app(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's transaction modes only")
    return app


def test_a_write_after_reads_without_begin_write_is_flagged(sqlite_app, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    with sqlite_app.app_context():
        list_images(alice_api.user.id, limit=5, cursor=None)
        with pytest.warns(ReadThenWriteWarning, match="begin_write"):
            db.session.execute(update(Image).values(file_name="x.png"))
        db.session.rollback()

        list_images(alice_api.user.id, limit=5, cursor=None)
        begin_write()  # ends the read, takes the lock: no warning
        db.session.execute(update(Image).values(file_name="y.png"))
        db.session.commit()
    assert image_row(sqlite_app, image_id).file_name == "y.png"


def test_begin_write_refuses_changes_made_from_unlocked_reads(sqlite_app, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    with sqlite_app.app_context():
        image = db.session.get(Image, uuid.UUID(image_id))
        image.file_name = "changed.png"
        with pytest.raises(RuntimeError, match="before the changes"):
            begin_write()
        with pytest.raises(RuntimeError, match="changes pending"):
            end_read()
        db.session.rollback()



def test_a_read_helper_never_commits_the_write_it_is_called_in(app):
    """N13: read helpers used to end their transaction with commit(), so one called in
    the middle of a change committed half of it. Now a rollback still undoes it all."""
    from sqlalchemy import update as sql_update

    from app.core.db import begin_write
    from app.core.extensions import db as sql
    from app.images.models import Image, with_trashed
    from app.purge.service import last_run, pending_items, trash_total

    with app.app_context():
        image = Image(owner_id="u1", file_name="a.png", storage_key="k", thumbnail_key="t",
                      content_type="image/png", size_bytes=1, thumbnail_bytes=1, width=1,
                      height=1, sha256="0" * 64)
        sql.session.add(image)
        sql.session.commit()
        begin_write()
        sql.session.execute(with_trashed(sql_update(Image).where(Image.id == image.id)
                                         .values(file_name="renamed.png")))
        trash_total(), pending_items(utcnow()), last_run()
        sql.session.rollback()
        name = sql.session.execute(with_trashed(sql.select(Image.file_name))).scalar_one()
        assert name == "a.png"


def test_begin_write_says_what_it_does_to_loaded_objects(app):
    """N5: the docstring promised that loaded objects expire and load again under the
    lock; the session keeps them (expire_on_commit=False). The words now match the code."""
    with app.app_context():
        image = Image(owner_id="u1", file_name="a.png", storage_key="k", thumbnail_key="t",
                      content_type="image/png", size_bytes=1, thumbnail_bytes=1, width=1,
                      height=1, sha256="0" * 64)
        db.session.add(image)
        db.session.commit()
        loaded = db.session.execute(select(Image)).scalar_one()
        with db.engine.begin() as other:  # another writer
            other.execute(update(Image.__table__).values(version=7))
        begin_write()
        assert loaded.version == 1  # kept, not refreshed
        db.session.rollback()
    assert "NOT refreshed" in begin_write.__doc__
    assert "expire and load again" not in (begin_write.__doc__ + end_read.__doc__)
