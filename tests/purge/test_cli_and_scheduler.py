"""``flask purge`` and the scheduled job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from flask_apscheduler import APScheduler
from sqlalchemy import select

from app.core.db import utcnow
from app.core.extensions import db
from app.purge import scheduler as purge_scheduler
from app.purge.models import PurgeRun
from tests.purge.conftest import EXPIRED, TRASHED, add_images, image_rows
from tests.purge.test_api import hold_lease


def purge_runs(app):
    with app.app_context():
        rows = db.session.execute(select(PurgeRun).order_by(PurgeRun.id)).scalars().all()
        db.session.commit()
        return list(rows)


def test_cli_purges_with_a_progress_bar_and_a_summary(app, owner):
    add_images(app, owner.id, 5, EXPIRED)
    add_images(app, owner.id, 1, TRASHED)
    result = app.test_cli_runner().invoke(args=["purge", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Purging" in result.output  # the progress bar
    assert "purged 5 image(s), freed 550 B, 0 error(s), 0 remaining" in result.output
    assert len(image_rows(app)) == 1
    (run,) = purge_runs(app)
    assert (run.trigger, run.deleted) == ("cli", 5)


def test_cli_dry_run_changes_nothing(app, owner):
    add_images(app, owner.id, 2, EXPIRED)
    result = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0
    assert "Dry run: 2 image(s), 4 object(s), 220 B would be purged" in result.output
    assert len(image_rows(app)) == 2


def test_cli_older_than_narrows_the_run(app, owner):
    add_images(app, owner.id, 1, EXPIRED, deleted_days_ago=40)
    add_images(app, owner.id, 1, EXPIRED, deleted_days_ago=3)
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "30"])
    assert "purged 1 image(s)" in result.output
    assert len(image_rows(app)) == 1


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--older-than", "-1"],
                                  ["--batch-size", "many"]])
def test_cli_rejects_bad_options(app, args):
    result = app.test_cli_runner().invoke(args=["purge", *args])
    assert result.exit_code == 2


def test_cli_says_already_running_and_fails(app, owner):
    add_images(app, owner.id, 1, EXPIRED)
    hold_lease(app, "host-b:42:abc")
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 1
    assert "A purge is already running (held by host-b:42:abc" in result.output
    assert len(image_rows(app)) == 1


def test_scheduler_never_starts_under_testing_or_when_disabled(app, monkeypatch):
    fresh = APScheduler()
    monkeypatch.setattr(purge_scheduler, "scheduler", fresh)
    assert purge_scheduler.init_app(app) is False  # TESTING
    app.config.update(TESTING=False, SCHEDULER_ENABLED=False)
    try:
        assert purge_scheduler.init_app(app) is False
    finally:
        app.config["TESTING"] = True
    assert not fresh.running


def test_scheduler_starts_with_the_cron_job_in_its_timezone(app, monkeypatch):
    fresh = APScheduler()
    monkeypatch.setattr(purge_scheduler, "scheduler", fresh)
    app.config.update(TESTING=False, SCHEDULER_ENABLED=True, PURGE_CRON="15 3 * * *",
                      SCHEDULER_TIMEZONE="UTC")
    try:
        assert purge_scheduler.init_app(app) is True
        job = fresh.get_job(purge_scheduler.JOB_ID)
        assert isinstance(job.trigger, CronTrigger)
        assert (job.next_run_time.hour, job.next_run_time.minute) == (3, 15)
        assert str(job.trigger.timezone) == "UTC"
    finally:
        fresh.shutdown(wait=False)
        app.config["TESTING"] = True


def test_next_run_and_current_slot_follow_the_cron_expression():
    config = {"PURGE_CRON": "0 0 * * *", "SCHEDULER_TIMEZONE": "UTC", "SCHEDULER_ENABLED": True}
    now = datetime(2026, 3, 4, 0, 0, 20, tzinfo=UTC)
    assert purge_scheduler.next_run_at(config, now) == datetime(2026, 3, 5, tzinfo=UTC)
    assert purge_scheduler.current_slot(config, now) == datetime(2026, 3, 4, tzinfo=UTC)
    assert purge_scheduler.current_slot(config, now + timedelta(hours=2)) is None
    madrid = {**config, "SCHEDULER_TIMEZONE": "Europe/Madrid"}
    assert purge_scheduler.next_run_at(madrid, now) == datetime(2026, 3, 4, 23, tzinfo=UTC)
    assert purge_scheduler.next_run_at({**config, "SCHEDULER_ENABLED": False}, now) is None


def test_the_job_purges_once_per_slot_and_is_a_no_op_where_another_runs(app, owner,
                                                                       monkeypatch):
    slot = utcnow() - timedelta(seconds=1)  # both starts below belong to this slot
    monkeypatch.setattr(purge_scheduler, "current_slot", lambda config, now: slot)
    add_images(app, owner.id, 2, EXPIRED)
    purge_scheduler.run_scheduled_purge(app)
    runs = purge_runs(app)
    assert [(r.trigger, r.deleted) for r in runs] == [("scheduler", 2)]
    assert image_rows(app) == {}
    # Another worker fires a moment later for the same slot: nothing new happens.
    purge_scheduler.run_scheduled_purge(app)
    assert len(purge_runs(app)) == 1
    # While another process holds the lease, a start is a quiet no-op.
    add_images(app, owner.id, 1, EXPIRED)
    hold_lease(app)
    purge_scheduler.run_scheduled_purge(app)
    assert len(image_rows(app)) == 1


def test_scheduled_runs_use_the_wall_clock(app, owner):
    """The job passes now=utcnow(): an item due in the future stays."""
    add_images(app, owner.id, 1, TRASHED)
    app.config["PURGE_CRON"] = "* * * * *"
    purge_scheduler.run_scheduled_purge(app)
    assert len(image_rows(app)) == 1
    assert purge_runs(app)[0].finished_at <= utcnow()
