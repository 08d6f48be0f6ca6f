"""The audit hash chain: canonical form, serialised writers, and ``flask audit verify``."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from app.audit.models import AuditEvent
from app.audit.service import GENESIS, Context, canonical, compute_hash, record, verify_chain
from app.core.extensions import db


def write_events(app, n, ctx=None):
    with app.app_context():
        for i in range(n):
            record("soft_delete", "ok", ctx or Context(actor_id="u1", actor_role="user"),
                   target_type="image", target_id=f"img-{i}", details={"n": i})


def test_chain_links_and_verifies(app):
    write_events(app, 5)
    with app.app_context():
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [e.id for e in events] == [1, 2, 3, 4, 5]
        assert events[0].prev_hash == GENESIS
        for before, after in zip(events, events[1:], strict=False):
            assert after.prev_hash == before.hash
        assert verify_chain().ok


def test_canonical_form_is_sorted_compact_and_utc():
    event = AuditEvent(id=7, at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
                       actor_id="a", actor_role="admin", action="restore", outcome="ok",
                       target_type="image", target_id="t", ip=None, user_agent=None,
                       request_id="r", details={"b": 1, "a": [1, 2]}, prev_hash=GENESIS)
    text = canonical(event)
    assert " " not in text
    assert json.loads(text)["at"] == "2026-01-02T03:04:05.006000Z"
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert compute_hash(GENESIS, event) == compute_hash(GENESIS, event)


def test_stored_events_verify_after_a_round_trip(app):
    """What the database gives back hashes the same (times, JSON details)."""
    write_events(app, 3, Context(actor_id="ü", actor_role="user", user_agent="Mozilla/5.0 ☃"))
    with app.app_context():
        db.session.expunge_all()
        assert verify_chain().ok


def test_concurrent_writers_never_fork_the_chain(app):
    errors = []

    def writer():
        try:
            write_events(app, 10)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        result = verify_chain()
        assert result.ok, result.problems
        assert result.checked == 40


def tamper(app, statement):
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


def test_cli_verify_passes_then_fails_on_an_altered_row(app):
    write_events(app, 4)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "4 events verified" in ok.output
    tamper(app, update(AuditEvent).where(AuditEvent.id == 2).values(outcome="denied"))
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "event 2" in broken.output


def test_cli_verify_fails_on_a_removed_row(app):
    write_events(app, 4)
    tamper(app, delete(AuditEvent).where(AuditEvent.id == 3))
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1


def test_cli_verify_fails_when_the_newest_events_are_cut_off(app):
    write_events(app, 4)
    tamper(app, delete(AuditEvent).where(AuditEvent.id >= 3))
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "ends at event 2 but event 4 was written" in result.output


def test_cli_verify_fails_on_rewritten_details(app):
    write_events(app, 2)
    tamper(app, update(AuditEvent).where(AuditEvent.id == 1).values(details={"n": 99}))
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 1


def test_audit_api_filters_pages_and_jsonl(app, admin_api, alice_api):
    write_events(app, 3, Context(actor_id="someone", actor_role="user"))
    write_events(app, 2, Context(actor_id="other", actor_role="user"))
    body = admin_api.get("/api/v1/audit?actor=someone&limit=2").get_json()
    assert [e["actor_id"] for e in body["items"]] == ["someone", "someone"]
    assert body["items"][0]["id"] > body["items"][1]["id"]
    rest = admin_api.get(f"/api/v1/audit?actor=someone&cursor={body['next_cursor']}").get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert admin_api.get("/api/v1/audit?action=soft_delete&target=img-1").get_json()["items"]
    stream = admin_api.get("/api/v1/audit?format=jsonl&actor=other")
    assert stream.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in stream.data.decode().splitlines()]
    assert len(lines) == 2 and all(e["actor_id"] == "other" for e in lines)
    assert alice_api.get("/api/v1/audit").status_code == 403
    assert admin_api.get("/api/v1/audit?cursor=zzz").status_code == 400
    assert admin_api.get("/api/v1/audit?format=csv").status_code == 400


def test_admin_audit_page_renders_and_filters(app, client):
    from tests.helpers import Browser

    write_events(app, 2, Context(actor_id="someone", actor_role="user"))
    browser = Browser(client, "founder", "founder-password")
    page = browser.request("GET", "/admin/audit", htmx=False)
    assert page.status_code == 200 and "soft_delete" in page.text and "<html" in page.text
    fragment = browser.request("GET", "/admin/audit?actor=nobody")
    assert "<html" not in fragment.text and "No events match" in fragment.text
    assert fragment.headers["Vary"].startswith("HX-Request") or "HX-Request" in fragment.headers[
        "Vary"]


def rewrite_chain(app, event_id: int, **changes) -> None:
    """What someone with write access to the database can do to an unkeyed chain: edit an
    event, then recompute every later hash and the head, so that a plain verify passes."""
    from app.audit.models import AuditHead
    from app.core.db import begin_write

    with app.app_context():
        begin_write()
        db.session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(**changes))
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        prev = GENESIS
        for event in events:  # out of the way of prev_hash's unique constraint
            event.prev_hash = f"rewriting-{event.id}"
            db.session.flush()
        for event in events:
            event.prev_hash, event.hash = prev, compute_hash(prev, event)
            prev = event.hash
            db.session.flush()
        head = db.session.get(AuditHead, 1)
        head.last_id, head.last_hash = events[-1].id, prev
        db.session.commit()


def test_an_anchor_kept_outside_catches_a_rewritten_chain(app):
    write_events(app, 4)
    runner = app.test_cli_runner()
    anchor = runner.invoke(args=["audit", "head"]).output.strip()
    assert anchor.startswith("4:") and len(anchor) == 2 + 64
    assert runner.invoke(args=["audit", "verify", "--anchor", anchor]).exit_code == 0
    write_events(app, 1)  # the chain grows past its anchor: still fine
    assert runner.invoke(args=["audit", "verify", "--anchor", anchor]).exit_code == 0

    rewrite_chain(app, 2, outcome="denied")
    plain = runner.invoke(args=["audit", "verify"])
    assert plain.exit_code == 0, plain.output  # the unkeyed chain alone cannot tell
    anchored = runner.invoke(args=["audit", "verify", "--anchor", anchor])
    assert anchored.exit_code == 1
    assert "event 4: its hash differs from the anchor" in anchored.output


def test_an_anchor_past_the_end_or_malformed_is_reported(app):
    write_events(app, 2)
    runner = app.test_cli_runner()
    gone = runner.invoke(args=["audit", "verify", "--anchor", f"9:{'a' * 64}"])
    assert gone.exit_code == 1 and "event 9 is anchored" in gone.output
    bad = runner.invoke(args=["audit", "verify", "--anchor", "nine:xyz"])
    assert bad.exit_code == 2 and "not an anchor" in bad.output


def test_the_scheduled_purge_logs_the_audit_head(app, caplog):
    from app.purge.scheduler import run_scheduled_purge

    write_events(app, 3)
    with app.app_context():
        head = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())
                                  ).scalars().first()
        expected = f"{head.id}:{head.hash}"
    with caplog.at_level("INFO", logger="app.purge.scheduler"):
        run_scheduled_purge(app)
    anchors = [r.anchor for r in caplog.records if r.getMessage() == "audit head"]
    assert len(anchors) == 1
    assert int(anchors[0].split(":")[0]) >= head.id  # the run itself adds its own event
    with app.app_context():
        assert verify_chain(anchors=dict([(head.id, expected.split(":")[1])])).ok
