"""The purge's two faces: /api/v1/admin/purge(/runs) and the /admin/purge page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.purge import lease
from app.purge.chart import nice_ceiling, runs_chart
from tests.conftest import USER_PASSWORD, build_app, login_api
from tests.helpers import Browser, count_calls
from tests.purge.conftest import EXPIRED, TRASHED, add_images, image_rows

CONFIRM = {"X-Confirm-Delete": "yes"}


def hold_lease(app, holder="another-worker"):
    with app.app_context():
        assert lease.acquire("purge", holder, ttl_s=600, now=utcnow())


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/admin/purge"),
                                         ("DELETE", "/api/v1/admin/purge"),
                                         ("GET", "/api/v1/admin/purge/runs")])
def test_without_credentials_401_and_for_plain_users_403(client, alice_api, method, path):
    assert client.open(path, method=method, headers=CONFIRM).status_code == 401
    response = alice_api.client.open(path, method=method, headers=alice_api.headers(CONFIRM))
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


def test_status_shows_counts_retention_and_the_first_pending_items(app, admin_api, owner):
    add_images(app, owner.id, 3, EXPIRED)
    add_images(app, owner.id, 2, TRASHED)
    body = admin_api.get("/api/v1/admin/purge").get_json()
    assert set(body) >= {"total_in_trash", "pending_deletion", "retention_days", "next_run_at",
                         "last_run", "items"}
    assert (body["total_in_trash"], body["pending_deletion"], body["retention_days"]) == (5, 3, 30)
    assert body["last_run"] is None
    assert body["next_run_at"] is None  # the tests switch the schedule off
    assert len(body["items"]) == 3
    assert set(body["items"][0]) >= {"id", "owner_id", "file_name", "purge_at", "size_bytes"}


def test_next_run_at_comes_from_the_cron_expression(tmp_path):
    app = build_app(tmp_path, SCHEDULER_ENABLED=True, PURGE_CRON="30 2 * * *",
                    SCHEDULER_TIMEZONE="Europe/Madrid")
    client = app.test_client()
    token = login_api(client, "founder", "founder-password")
    body = client.get("/api/v1/admin/purge",
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    # 02:30 in Madrid is 01:30 UTC in winter and 00:30 UTC in summer.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT0[01]:30:00\.000000Z", body["next_run_at"])


def test_run_needs_confirmation_then_purges_and_reports(app, admin_api, owner):
    add_images(app, owner.id, 3, EXPIRED)
    refused = admin_api.delete("/api/v1/admin/purge")
    assert refused.status_code == 400
    assert refused.get_json()["code"] == "confirmation_required"
    assert len(image_rows(app)) == 3
    response = admin_api.delete("/api/v1/admin/purge", headers=CONFIRM)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("deleted", "bytes_freed", "errors", "remaining")} == {
        "deleted": 3, "bytes_freed": 330, "errors": 0, "remaining": 0}
    assert image_rows(app) == {}
    last = admin_api.get("/api/v1/admin/purge").get_json()["last_run"]
    assert (last["trigger"], last["deleted"], last["status"]) == ("api", 3, "finished")


def test_dry_run_reports_consequences_and_changes_nothing(app, admin_api, owner):
    add_images(app, owner.id, 2, EXPIRED)
    response = admin_api.delete("/api/v1/admin/purge?dry_run=true")
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["action"] == "purge_run"
    assert body["consequences"] == {"images": 2, "objects": 4, "bytes": 220}
    assert len(image_rows(app)) == 2


def test_the_dry_run_sums_the_due_rows_once(app, admin_api, owner):
    """The confirmation snapshot's numbers are the dry run's: the due range and the rows
    in flight are summed once per request (twice each before: 37 ms at 1M on PostgreSQL)."""
    from sqlalchemy import event

    from app.core.extensions import db

    add_images(app, owner.id, 3, EXPIRED)
    sums = []

    def note(_conn, _cursor, statement, *_args):
        if "sum(" in statement.lower() and "FROM images" in statement:
            sums.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        body = admin_api.delete("/api/v1/admin/purge?dry_run=true").get_json()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert body["consequences"] == {"images": 3, "objects": 6, "bytes": 330}
    assert len(sums) == 2  # the due rows, the rows in flight


def test_a_purge_request_checks_the_installation_once(app, admin_api, owner, monkeypatch):
    """The route's guard checks that SQL and the user store belong together; the purge
    service it calls would check again for the scheduler and the CLI (about 2 ms each):
    within one request the answer is kept. A mismatch still answers 409."""
    import app.installation as installation

    checks = count_calls(monkeypatch, installation, "ensure_installation")
    add_images(app, owner.id, 2, EXPIRED)
    assert admin_api.delete("/api/v1/admin/purge?dry_run=true").status_code == 200
    assert checks == [1]
    assert admin_api.delete("/api/v1/admin/purge", headers=CONFIRM).status_code == 200
    assert checks == [1, 1]  # a new request checks again
    mismatch = installation.InstallationStatus(state="mismatch", sql_id="a", store_id="b",
                                               reason="another user store")
    monkeypatch.setattr(installation, "ensure_installation", lambda: mismatch)
    refused = admin_api.delete("/api/v1/admin/purge?dry_run=true")
    assert refused.status_code == 409


def test_a_second_run_gets_409_purge_running(app, admin_api, owner):
    add_images(app, owner.id, 2, EXPIRED)
    hold_lease(app)
    response = admin_api.delete("/api/v1/admin/purge", headers=CONFIRM)
    assert response.status_code == 409
    assert response.get_json()["code"] == "purge_running"
    assert len(image_rows(app)) == 2
    assert admin_api.get("/api/v1/admin/purge").get_json()["running"] is True


def test_the_time_budget_stops_the_run_and_reports_remaining(app, admin_api, owner):
    add_images(app, owner.id, 4, EXPIRED)
    app.config["PURGE_TIME_BUDGET_S"] = 0  # used up before the first batch
    body = admin_api.delete("/api/v1/admin/purge", headers=CONFIRM).get_json()
    assert (body["deleted"], body["remaining"], body["status"]) == (0, 4, "stopped")


def test_runs_are_listed_newest_first_with_a_cursor(app, admin_api):
    for _ in range(3):
        assert admin_api.delete("/api/v1/admin/purge", headers=CONFIRM).status_code == 200
    first = admin_api.get("/api/v1/admin/purge/runs?limit=2").get_json()
    assert [r["id"] for r in first["items"]] == [3, 2]
    assert first["next_cursor"]
    second = admin_api.get(f"/api/v1/admin/purge/runs?limit=2&cursor={first['next_cursor']}")
    assert [r["id"] for r in second.get_json()["items"]] == [1]
    assert second.get_json()["next_cursor"] is None
    bad = admin_api.get("/api/v1/admin/purge/runs?cursor=nonsense")
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_cursor"


def test_admin_page_shows_pending_next_run_history_and_an_svg_chart(app, client, owner):
    add_images(app, owner.id, 2, EXPIRED)
    browser = Browser(client, "founder", "founder-password")
    ran = browser.request("DELETE", "/admin/purge", headers=CONFIRM)
    assert ran.status_code == 200
    assert 'id="purge"' in ran.text and 'hx-swap-oob="beforeend:#toasts"' in ran.text
    add_images(app, owner.id, 1, EXPIRED)
    page = browser.request("GET", "/admin/purge", htmx=False)
    assert page.status_code == 200
    html = page.text
    assert "<svg" in html and "<rect" in html and "<polyline" in html
    assert "Run now" in html and 'hx-delete="/admin/purge"' in html
    assert "Due now" in html and "Run history" in html
    # The CSP forbids inline styles and scripts.
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    fragment = browser.request("GET", "/admin/purge")
    assert fragment.text.lstrip().startswith('<section id="purge"')


def test_admin_page_is_for_admins(app, make_user):
    browser = Browser(app.test_client(), make_user().username, USER_PASSWORD)
    assert browser.request("GET", "/admin/purge", htmx=False).status_code == 403


def test_chart_geometry():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 12, 999)] == [1, 1, 5, 10, 20, 1000]
    assert runs_chart([]).empty

    class Run:
        def __init__(self, run_id, freed, deleted):
            self.id, self.bytes_freed, self.deleted = run_id, freed, deleted
            self.started_at = utcnow() - timedelta(days=10 - run_id)

    chart = runs_chart([Run(1, 500, 5), Run(2, 1000, 10), Run(3, 0, 0)])
    heights = [bar["height"] for bar in chart.bars]
    assert heights[1] == chart.bottom - chart.top and len(heights) == 2  # no bar of nothing
    assert chart.idle == 1
    assert heights[0] == pytest.approx(heights[1] / 2)
    assert [p["y"] for p in chart.points][1] == chart.top
    assert len(chart.polyline.split()) == 2
