"""The nightly purge on Flask-APScheduler.

Every web process schedules the job (``PURGE_CRON`` in ``SCHEDULER_TIMEZONE``); the SQL
lease makes all starts but one fail fast with ``PurgeRunning``, and a start that comes a
moment after another worker already ran this slot is skipped. The scheduler never
starts under ``TESTING``, when ``SCHEDULER_ENABLED`` is false, or inside a CLI command
other than ``flask run`` (``flask db upgrade`` and ``flask purge`` need no timer thread).
Under gunicorn (``make run``, the container) there is no CLI command: every worker builds
its app after the fork and starts its own scheduler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import click
from apscheduler.triggers.cron import CronTrigger

from app.audit.service import chain_head
from app.core.db import utcnow
from app.core.errors import InstallationMismatch
from app.core.extensions import scheduler
from app.purge.service import PurgeRunning, purge_expired

log = logging.getLogger(__name__)

JOB_ID = "purge"
# How far back a start looks for the slot it belongs to (a late start still finds it).
SLOT_LOOKBACK = timedelta(hours=1)


def cron_trigger(config) -> CronTrigger:
    return CronTrigger.from_crontab(config["PURGE_CRON"], timezone=config["SCHEDULER_TIMEZONE"])


def next_run_at(config, now: datetime | None = None) -> datetime | None:
    """When the job fires next, from the cron expression; None when scheduling is off."""
    if not config["SCHEDULER_ENABLED"]:
        return None
    fire = cron_trigger(config).get_next_fire_time(None, now or utcnow())
    return fire.astimezone(UTC) if fire else None


def current_slot(config, now: datetime) -> datetime | None:
    """The latest scheduled fire time at or before ``now`` (within the lookback)."""
    trigger = cron_trigger(config)
    slot = None
    fire = trigger.get_next_fire_time(None, now - SLOT_LOOKBACK)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return slot.astimezone(UTC) if slot else None


def run_scheduled_purge(app) -> None:
    """The job: one purge inside an app context; a no-op where another worker runs it."""
    with app.app_context():
        now = utcnow()
        slot = current_slot(app.config, now)
        try:
            report = purge_expired(now=now, trigger="scheduler", skip_if_started_since=slot)
        except PurgeRunning:
            log.info("the purge is running elsewhere; this start is a no-op")
            return
        except InstallationMismatch as error:
            log.error("the scheduled purge was refused: %s", error.message)
            return
        except Exception:
            log.exception("the scheduled purge failed")
            return
        log.info("scheduled purge", extra={"status": report.status, "deleted": report.deleted})
        _log_audit_head()


def _log_audit_head() -> None:
    """Once per scheduled run, the audit chain's head goes to the logs: kept outside the
    database, each line is an anchor for ``flask audit verify --anchor``."""
    try:
        head = chain_head()
    except Exception:
        log.exception("could not read the audit head")
        return
    if head:
        log.info("audit head", extra={"anchor": f"{head[0]}:{head[1]}"})


def _in_cli_command() -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command.name != "run"


def init_app(app) -> bool:
    """Schedule the purge in this process and start the scheduler; True if started."""
    if app.testing or not app.config["SCHEDULER_ENABLED"] or _in_cli_command():
        return False
    if scheduler.running:
        log.warning("the scheduler already runs in this process for another app")
        return False
    scheduler.init_app(app)
    scheduler.add_job(JOB_ID, run_scheduled_purge, trigger=cron_trigger(app.config),
                      args=[app], replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=int(SLOT_LOOKBACK.total_seconds()))
    scheduler.start()
    log.info("purge scheduled", extra={"cron": app.config["PURGE_CRON"],
                                       "timezone": app.config["SCHEDULER_TIMEZONE"]})
    return True
