"""The purge chart and history with runs that had nothing to do (ux review, minor 9): no
"0 B / 0 B / 1 B" axis, no bars of nothing, one line for a stretch of empty runs, and a
drawing as wide as its panel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.purge.chart import runs_chart
from app.purge.present import history_rows
from tests.helpers import Browser
from tests.purge.conftest import EXPIRED, add_images

CONFIRM = {"X-Confirm-Delete": "yes"}


def admin(client):
    return Browser(client, "founder", "founder-password")


def purge_section(browser, **headers):
    html = browser.request("GET", "/admin/purge", htmx=False, headers=headers or None).text
    return html[html.index('id="purge"'):]


def chart_of(html):
    start = html.index('<svg class="chart')
    return html[start:html.index("</svg>", start)]


def test_only_empty_runs_show_no_axis_of_nothing(app, client):
    browser = admin(client)
    for _ in range(3):  # "Run now" on an empty trash
        assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    html = purge_section(browser)
    panel = html[html.index("Bytes freed and items purged per run"):html.index("Due now")]
    assert "<svg" not in panel and " B<" not in panel
    assert "3 runs, all with nothing to do: nothing has been purged yet." in html
    # The history keeps them as one line, not three rows of zeros.
    history = html[html.index("Run history"):]
    assert "3 runs with nothing to do" in history
    assert history.count('class="idle-runs"') == 1
    assert "outcome-ok" not in history


def test_empty_runs_in_spanish(app, client):
    browser = admin(client)
    assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    html = purge_section(browser, **{"Accept-Language": "es"})
    assert "1 ejecución, sin nada que hacer: todavía no se ha purgado nada." in html
    assert "1 ejecución sin nada que hacer" in html


def test_a_run_that_purged_is_drawn_and_empty_ones_are_counted(app, client, owner):
    browser = admin(client)
    assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    add_images(app, owner.id, 3, EXPIRED)
    assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    assert browser.request("DELETE", "/admin/purge", headers=CONFIRM).status_code == 200
    html = purge_section(browser)
    chart = chart_of(html)
    assert len(re.findall(r'<rect class="bytes"', chart)) == 1
    assert 'class="chart chart-wide"' in html and 'viewBox="0 0 800 260"' in chart
    assert "Not drawn: 2 runs with nothing to do." in html
    left_axis = re.findall(r'<text x="[^"]*" y="[^"]*" text-anchor="end">([^<]*)</text>', chart)
    assert len(set(left_axis)) == 3  # three different sizes, never "0 B" twice
    history = html[html.index("Run history"):]
    # newest first: an empty run, the purge, an empty run: two idle lines around it.
    assert history.count('class="idle-runs"') == 2
    assert "1 run with nothing to do" in history


class Run:
    def __init__(self, run_id, freed, deleted, days_ago=1):
        self.id, self.bytes_freed, self.deleted = run_id, freed, deleted
        self.started_at = datetime(2026, 11, 24, tzinfo=UTC) - timedelta(days=days_ago)


def test_chart_scales_never_repeat_a_tick():
    chart = runs_chart([Run(1, 0, 0), Run(2, 0, 0)])
    assert chart.empty and chart.idle == 2
    # A run that purged items of no recorded size still gets a readable byte scale.
    chart = runs_chart([Run(1, 0, 1)])
    assert [tick["bytes"] for tick in chart.ticks] == [0, 512, 1024]
    assert [tick["purged"] for tick in chart.ticks] == [0, 1, 2]
    # An odd top (5 items) is made even, so the middle tick is a whole number.
    chart = runs_chart([Run(1, 5000, 5)])
    assert [tick["purged"] for tick in chart.ticks] == [0, 5, 10]
    assert chart.bars[0]["width"] <= 64  # one run is a bar, not a wall


def test_history_rows_group_stretches_of_empty_runs():
    def run(run_id, deleted=0, status="finished", errors=0):
        return {"id": run_id, "status": status, "deleted": deleted, "bytes_freed": deleted * 10,
                "errors": errors, "started_at": f"t{run_id}"}

    rows = history_rows([run(6), run(5), run(4, deleted=2), run(3), run(2, status="failed"),
                         run(1, errors=1)])
    assert rows[0] == {"idle": 2, "newest": "t6", "oldest": "t5"}
    assert rows[1]["run"]["id"] == 4
    assert rows[2] == {"idle": 1, "newest": "t3", "oldest": "t3"}
    assert [row["run"]["id"] for row in rows[3:]] == [2, 1]  # failures stay visible
