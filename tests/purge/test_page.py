"""The /admin/purge page as an admin reads it: numbers on the chart, names, words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.purge.chart import runs_chart
from tests.helpers import Browser
from tests.purge.conftest import EXPIRED, add_images

CONFIRM = {"X-Confirm-Delete": "yes"}


def admin(client):
    return Browser(client, "founder", "founder-password")


def test_the_chart_prints_counts_not_a_python_method(app, client, owner):
    """Defect 1: `tick.items` on a dict printed "<built-in method items of dict …>"."""
    browser = admin(client)
    add_images(app, owner.id, 3, EXPIRED)
    assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    html = browser.request("GET", "/admin/purge", htmx=False).text
    assert "built-in method" not in html
    start = html.index('<svg class="chart')
    chart = html[start:html.index("</svg>", start)]
    # The right axis reads 0, half and the top of the item scale; tooltips count items.
    right_axis = re.findall(r'<text class="items-tick"[^>]*>([^<]*)</text>', chart)
    assert right_axis and all(value.isdigit() for value in right_axis)
    assert "3 items" in chart
    assert "item(s)" not in html


def test_the_page_names_owners_and_says_the_schedule_in_words(app, client, owner):
    add_images(app, owner.id, 2, EXPIRED)
    html = admin(client).request("GET", "/admin/purge", htmx=False).text
    due = html[html.index("Due now"):html.index("Run history")]
    assert owner.username in due and owner.id not in due
    assert "Every day at 00:00" in html  # PURGE_CRON "0 0 * * *"
    # Two items due: the button asks with the count; nothing due asks nothing.
    assert "Delete the 2 expired items for good now?" in html


def test_nothing_due_is_never_asked_about(app, client):
    html = admin(client).request("GET", "/admin/purge", htmx=False).text
    assert "Delete the 0" not in html
    button = re.search(r'<button[^>]*id="purge-run-now"[^>]*>', html).group(0)
    assert "hx-confirm" not in button


class Run:
    def __init__(self, run_id, started_at, freed=100, deleted=1):
        self.id, self.started_at = run_id, started_at
        self.bytes_freed, self.deleted = freed, deleted


def test_chart_labels_do_not_repeat_a_day():
    day = datetime(2026, 11, 24, 1, tzinfo=UTC)
    runs = [Run(i, day + timedelta(hours=i)) for i in range(3)]
    runs += [Run(3, day + timedelta(days=1)), Run(4, day + timedelta(days=1, hours=2))]
    labels = [label["text"] for label in runs_chart(runs).labels]
    assert labels == ["2026-11-24", "2026-11-25"]
    # Runs of one day are told apart by time.
    same_day = runs_chart(runs[:3]).labels
    assert [label["text"] for label in same_day] == ["01:00", "02:00", "03:00"]
    # Many days: at most six labels.
    many = [Run(i, day + timedelta(days=i)) for i in range(30)]
    assert len(runs_chart(many).labels) <= 6
