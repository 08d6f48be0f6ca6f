"""The purge as a ``@delete_endpoint`` target, and the overview, shared by both faces."""

from __future__ import annotations

import time

from flask import current_app
from flask_babel import gettext, ngettext

from app.audit.service import Context
from app.core.db import utcnow
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.deletion.targets import Snapshot
from app.images.totals import Totals
from app.purge.present import iso, pending_item_to_dict, run_to_dict
from app.purge.scheduler import next_run_at
from app.purge.service import (
    is_running,
    last_run,
    list_runs,
    pending_items,
    pending_stats,
    pending_totals,
    purge_expired,
    trash_total,
)


def load_purge_queue(actor) -> Snapshot:
    """Everything due for purging, as one target."""
    totals = pending_totals(utcnow())
    return Snapshot("purge", "due", totals.count, totals.bytes, fingerprint=totals.fingerprint)


def preview_purge(queue: Snapshot, options) -> dict:
    """The dry run: the queue as loaded (the numbers its ETag describes, counted once),
    plus what an orphan sweep would take."""
    report = purge_expired(dry_run=True, trigger="api", pending=Totals(
        queue.count, queue.bytes, queue.fingerprint))
    return {"images": report.images, "objects": report.objects, "bytes": report.bytes}


def run_purge_now(ctx: Context) -> tuple[dict, dict, str]:
    """Purge for at most PURGE_TIME_BUDGET_S; raises PurgeRunning (409) if one runs.

    Returns the body, the audit details and the audit outcome: ``error`` for a run that
    failed (the answer still says what it did), ``ok`` otherwise.
    """
    budget = current_app.config["PURGE_TIME_BUDGET_S"]
    report = purge_expired(trigger="api", deadline=time.monotonic() + budget, ctx=ctx,
                           audit_run=False)
    body = {"deleted": report.deleted, "bytes_freed": report.bytes_freed,
            "errors": report.errors, "remaining": report.remaining, "run_id": report.run_id,
            "status": report.status, "error_messages": report.error_messages}
    if report.status == "failed":
        body["message"] = gettext("The purge failed; the next run will pick up where it "
                                  "stopped.")
    elif report.remaining:
        body["message"] = ngettext("Purged %(num)d item; %(left)d still due (time budget used "
                                   "up or errors): run it again or wait for the next "
                                   "scheduled run.",
                                   "Purged %(num)d items; %(left)d still due (time budget "
                                   "used up or errors): run it again or wait for the next "
                                   "scheduled run.", report.deleted, left=report.remaining)
    else:
        body["message"] = ngettext("Purged %(num)d item.", "Purged %(num)d items.",
                                   report.deleted) if report.deleted else \
            gettext("Nothing was due: no item was purged.")
    outcome = "error" if report.status == "failed" else "ok"
    return body, report.as_dict(), outcome


def purge_overview(now=None, *, items: int = 20) -> dict:
    now = now or utcnow()
    config = current_app.config
    pending, pending_bytes = pending_stats(now)
    latest = last_run()
    return {
        "total_in_trash": trash_total(),
        "pending_deletion": pending,
        "pending_bytes": pending_bytes,
        "retention_days": config["TRASH_RETENTION_DAYS"],
        "retention_max_days": config["TRASH_RETENTION_MAX_DAYS"],
        "next_run_at": iso(next_run_at(config, now)),
        "cron": config["PURGE_CRON"],
        "timezone": config["SCHEDULER_TIMEZONE"],
        "running": is_running(),
        "last_run": run_to_dict(latest) if latest else None,
        "items": [pending_item_to_dict(image) for image in pending_items(now, items)],
    }


def runs_page(*, limit: int, cursor: str | None) -> Page:
    before_id = decode_cursor(cursor, kinds=(int,))[0] if cursor else None
    rows, more = list_runs(limit=limit, before_id=before_id)
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


# The purge as a @delete_endpoint action, declared once for the API and the admin page.
# It reaches the object store: it is ``outside_sql`` (see app.deletion).
RUN_PURGE = {"resource": "purge", "load": load_purge_queue, "preview": preview_purge,
             "soft": False, "roles": ("admin",), "action": "purge_run", "outside_sql": True}
