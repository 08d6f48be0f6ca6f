"""Test helpers shared across packages (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from app.audit.models import AuditEvent
from app.core.db import utcnow
from app.core.extensions import db
from app.images import counters
from app.images.models import Image, with_trashed


@contextmanager
def sql_statements(app):
    """The SQL statements ``app``'s engine runs inside the block, as sent (a list that
    grows as they run)."""
    from sqlalchemy import event

    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def audit_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(AuditEvent.id))).scalar_one()


def last_audit(app) -> AuditEvent:
    with app.app_context():
        return db.session.execute(
            select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()


def audit_since(app, before: int) -> list[tuple[str, str]]:
    """(action, outcome) of the events written after the first ``before`` ones."""
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            select(AuditEvent.action, AuditEvent.outcome).where(AuditEvent.id > before)
            .order_by(AuditEvent.id)).all()]


def image_row(app, image_id) -> Image | None:
    import uuid

    with app.app_context():
        return db.session.execute(
            with_trashed(select(Image).where(Image.id == uuid.UUID(str(image_id))))
        ).scalar_one_or_none()


def snapshot(app) -> list[tuple]:
    """Every image row's state, trashed ones included: what a no-op must leave alone."""
    with app.app_context():
        rows = db.session.execute(with_trashed(select(Image).order_by(Image.id))).scalars()
        return [(str(r.id), r.is_deleted, r.version, r.purge_state) for r in rows]


def object_files(tmp_path) -> set[str]:
    root = tmp_path / "objects"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} \
        if root.exists() else set()


class Browser:
    """A signed-in browser session: cookie + CSRF token, htmx requests."""

    def __init__(self, client, username, password):
        self.client = client
        page = client.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        response = client.post("/login", data={"csrf_token": token, "username": username,
                                               "password": password})
        assert response.status_code == 303, response.text
        gallery = client.get("/")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', gallery.text).group(1)

    def headers(self, extra=None, csrf=True, htmx=True):
        headers = {}
        if htmx:
            headers["HX-Request"] = "true"
        if csrf:
            headers["X-CSRFToken"] = self.csrf
        headers.update(extra or {})
        return headers

    def request(self, method, path, *, csrf=True, htmx=True, headers=None, **kw):
        return self.client.open(path, method=method, headers=self.headers(headers, csrf, htmx),
                                **kw)

    def upload(self, data, name="photo.png"):
        return self.request("POST", "/images", data={"file": (io.BytesIO(data), name)},
                            content_type="multipart/form-data")


@contextmanager
def audit_refused(app):
    """The database refuses every new audit event (a trigger), as a full disk, a lost
    connection or a lock timeout would refuse it midway through a transaction."""
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger "
                              "AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ "
                              "LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"))
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as conn:
            suffix = " ON audit_events" if conn.dialect.name == "postgresql" else ""
            conn.execute(text(f"DROP TRIGGER IF EXISTS refuse_audit{suffix}"))


def insert_images(owner_id: str, count: int, *, trashed: bool = False,
                  apart: timedelta = timedelta(minutes=1)) -> list[str]:
    """``count`` image rows of ``owner_id`` straight into SQL (no objects stored), newest
    first, ``apart`` from each other; trashed ones deleted a second apart, due in 30
    days. Inside an app context; committed. Their ids, newest first."""
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(count)]
    db.session.execute(insert(Image), [{
        "id": image_id, "owner_id": owner_id, "file_name": f"p{n}.jpg",
        "storage_key": f"originals/{image_id.hex}", "thumbnail_key": f"thumbnails/{image_id.hex}",
        "content_type": "image/jpeg", "size_bytes": 1000, "thumbnail_bytes": 10,
        "variant_bytes": 0, "width": 4, "height": 3, "sha256": f"{n:064x}",
        "created_at": now - apart * n, "is_deleted": trashed,
        "deleted_at": now - timedelta(seconds=n) if trashed else None,
        "purge_after": now + timedelta(days=30) if trashed else None, "version": 1,
    } for n, image_id in enumerate(ids)])
    db.session.commit()
    counters.repair(owner_id)  # rows written past the app: its counters learn of them here
    return [str(i) for i in ids]


def count_calls(monkeypatch, owner, name: str) -> list:
    """Wrap ``owner.name`` so that each call appends to the returned list, then calls
    through (a class attribute, an instance's or a module's)."""
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls
