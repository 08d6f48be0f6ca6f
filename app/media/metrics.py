"""Usage metrics of /media: counted in process memory, written to SQL in batches.

A request adds to in-memory counters under a lock (no SQL, no I/O); ``flush`` moves
everything counted so far to SQL in one transaction: per image (``media_stats``), per
hour (``media_hourly``) and the access events (``media_events``, IPs truncated to /24 or
/48). The scheduler flushes every ``MEDIA_FLUSH_INTERVAL_S`` (default 10 s) and prunes
events older than ``events_retention_days``; the process flushes once more when it exits
cleanly (``atexit``: gunicorn's SIGTERM, Ctrl-C), so a clean stop loses nothing and a
killed worker loses at most what it counted since its last flush. ``tracking_enabled``
false counts nothing.

A flush never retries the same poison forever (issue 18, item 9): image ids are made
``uuid.UUID`` when counted, and when a batch is refused for what is in it (not because the
database is away) it is written again row by row, each in a savepoint, and the rows the
database still refuses are dropped, logged and counted (``Recorder.dropped_rows``). Only a
database that cannot be reached puts the counts back for the next flush.

Stats read SQL plus ``pending()``, the counts of this process not flushed yet.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.core.db import end_read, on_postgresql, utcnow
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.media import webhooks
from app.media.config import media_config
from app.media.models import MediaEvent, MediaHourly, MediaStat, MediaTotals

log = logging.getLogger(__name__)

EXTENSION = "papelera.media_metrics"
FLUSH_JOB, PRUNE_JOB = "media_metrics_flush", "media_events_prune"
# Events beyond this many between two flushes are counted but not kept one by one.
MAX_PENDING_EVENTS = 50_000
STAT_FIELDS = ("views", "downloads", "proxy_requests", "bytes_served", "cache_hits",
               "not_modified", "bytes_from_cache")
EVENT_FIELDS = ("at", "image_id", "kind", "ip", "user_agent", "status", "cache_hit", "bytes")
TOTALS_ID = 1  # the one row of ``media_totals``
HOUR_FIELDS = ("proxy_requests", "bytes_served", "cache_hits", "not_modified",
               "bytes_from_cache")


@functools.lru_cache(maxsize=4096)  # the same clients come back: parse each address once
@functools.lru_cache(maxsize=4096)
def truncate_ip(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address: enough to spot abuse, not a
    person (kept per process by address: every tracked /media request asks, parsing two
    addresses each time cost 6 % of a cached image's instructions)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def image_key(value) -> uuid.UUID | None:
    """``value`` as the UUID the columns hold (ids travel as strings in some places);
    ``ValueError`` when it is not one."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value)
    raise ValueError(f"not an image id: {value!r}")


def _zero_stat() -> list[int]:
    return [0] * len(STAT_FIELDS)


def _zero_hour() -> list[int]:
    return [0] * len(HOUR_FIELDS)


class Recorder:
    """This process's counts since its last flush."""

    def __init__(self):
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.stats: dict[uuid.UUID, list[int]] = defaultdict(_zero_stat)
        self.hours: dict[datetime, list[int]] = defaultdict(_zero_hour)
        self.events: list[tuple] = []
        self.dropped_events = 0
        self.dropped_rows = 0  # refused by the database one by one, and let go

    def access(self, image_id, *, at: datetime, status: int, nbytes: int, x_cache: str | None,
               download: bool, ip: str | None, user_agent: str | None) -> None:
        hit = x_cache == "HIT"
        not_modified = status == 304
        from_cache = nbytes if hit else 0
        hour = at.replace(minute=0, second=0, microsecond=0)
        # A tuple of plain values: the garbage collector stops tracking it, so thousands
        # of pending events cost no collection time (dicts would be scanned every time).
        event = (at, image_id, "download" if download else "view", ip,
                 (user_agent or "")[:256] or None, status, hit or not_modified, nbytes)
        with self.lock:
            stat = self.stats[image_id]
            stat[0] += 0 if download else 1
            stat[1] += 1 if download else 0
            stat[2] += 1
            stat[3] += nbytes
            stat[4] += hit
            stat[5] += not_modified
            stat[6] += from_cache
            counts = self.hours[hour]
            counts[0] += 1
            counts[1] += nbytes
            counts[2] += hit
            counts[3] += not_modified
            counts[4] += from_cache
            if len(self.events) < MAX_PENDING_EVENTS:
                self.events.append(event)
            else:
                self.dropped_events += 1

    def event(self, kind: str, image_id=None, *, at: datetime, nbytes: int | None = None,
              ip: str | None = None, user_agent: str | None = None) -> None:
        image_id = image_key(image_id)
        with self.lock:
            if len(self.events) < MAX_PENDING_EVENTS:
                self.events.append((at, image_id, kind, ip,
                                    (user_agent or "")[:256] or None, None, None, nbytes))

    def take(self):
        with self.lock:
            taken = (self.stats, self.hours, self.events)
            self.stats = defaultdict(_zero_stat)
            self.hours = defaultdict(_zero_hour)
            self.events = []
            return taken

    def give_back(self, stats, hours, events) -> None:
        """A failed flush: its counts go back, to be written by the next one."""
        with self.lock:
            for key, values in stats.items():
                mine = self.stats[key]
                for i, value in enumerate(values):
                    mine[i] += value
            for key, values in hours.items():
                mine = self.hours[key]
                for i, value in enumerate(values):
                    mine[i] += value
            self.events[:0] = events[:MAX_PENDING_EVENTS]

    def snapshot(self):
        with self.lock:
            return ({k: list(v) for k, v in self.stats.items()},
                    {k: list(v) for k, v in self.hours.items()})


def recorder(app=None) -> Recorder:
    app = app or current_app
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, Recorder())
    return found


def _tracking() -> bool:
    return media_config().tracking_enabled


def record_access(image_id, *, status: int, nbytes: int, x_cache: str | None,
                  download: bool, ip: str | None, user_agent: str | None,
                  tracking: bool, at: datetime | None = None) -> None:
    """Count one answered /media request (the caller knows whether tracking is on)."""
    if not tracking:
        return
    recorder().access(image_id, at=at or utcnow(), status=status, nbytes=nbytes,
                      x_cache=x_cache, download=download, ip=truncate_ip(ip),
                      user_agent=user_agent)


def record_event(kind: str, image_id=None, *, nbytes: int | None = None,
                 ip: str | None = None, user_agent: str | None = None) -> None:
    """``upload``, ``variant`` or ``delete``; a no-op outside an app or with tracking off."""
    if not has_app_context():
        return
    try:
        if not _tracking():
            return
        recorder().event(kind, image_id, at=utcnow(), nbytes=nbytes, ip=truncate_ip(ip),
                         user_agent=user_agent)
    except Exception:  # noqa: BLE001  (metrics never fail the action they describe)
        log.exception("media event %s not recorded", kind)


def _upsert(model, key: str, rows: list[dict], fields: tuple[str, ...]) -> None:
    if not rows:
        return
    session = db.session
    insert = pg_insert if on_postgresql(session) else sqlite_insert
    stmt = insert(model.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key],
        set_={name: model.__table__.c[name] + stmt.excluded[name] for name in fields})
    session.execute(stmt, rows)


def _batch_rows(stats, hours, events):
    return ([{"image_id": k, **dict(zip(STAT_FIELDS, v, strict=True))} for k, v in stats.items()],
            [{"hour": k, **dict(zip(HOUR_FIELDS, v, strict=True))} for k, v in hours.items()],
            [dict(zip(EVENT_FIELDS, event, strict=True)) for event in events])


def _write(stat_rows, hour_rows, event_rows) -> None:
    _upsert(MediaStat, "image_id", stat_rows, STAT_FIELDS)
    _upsert(MediaHourly, "hour", hour_rows, HOUR_FIELDS)
    if event_rows:
        db.session.execute(MediaEvent.__table__.insert(), event_rows)
    if stat_rows:  # the rolled-up row last: its lock is held for the commit only
        _upsert(MediaTotals, "id", [{"id": TOTALS_ID, **{
            name: sum(row[name] for row in stat_rows) for name in STAT_FIELDS}}], STAT_FIELDS)


def _unreachable(exc: BaseException) -> bool:
    """The database is away or busy (try again later), not refusing what was sent."""
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _write_one_by_one(rec: Recorder, stat_rows, hour_rows, event_rows) -> int:
    """Each row in its own savepoint; a row the database refuses is dropped (logged and
    counted), the others are written. The number dropped."""
    session = db.session
    dropped = 0
    for rows, write in ((stat_rows, lambda r: _write([r], [], [])),
                        (hour_rows, lambda r: _write([], [r], [])),
                        (event_rows, lambda r: _write([], [], [r]))):
        for row in rows:
            try:
                with session.begin_nested():
                    write(row)
            except Exception as exc:
                if _unreachable(exc):
                    raise
                dropped += 1
                log.error("media metrics: dropped a row the database refuses: %r (%s)",
                          row, type(exc).__name__)
    with rec.lock:
        rec.dropped_rows += dropped
    return dropped


def flush(app=None) -> int:
    """Write this process's counts to SQL in one transaction; the number of images touched.

    A batch the database refuses for its content is written row by row, dropping the rows
    it still refuses; only an unreachable database gives the counts back (and raises).
    """
    app = app or current_app
    rec = recorder(app)
    with rec.flush_lock:
        stats, hours, events = rec.take()
        if not stats and not hours and not events:
            return 0
        rows = _batch_rows(stats, hours, events)
        try:
            try:
                with unit_of_work():
                    _write(*rows)
            except Exception as exc:
                if _unreachable(exc):
                    raise
                log.warning("media metrics flush refused (%s); writing row by row",
                            type(exc).__name__)
                with unit_of_work():
                    _write_one_by_one(rec, *rows)
        except Exception:
            rec.give_back(stats, hours, events)
            log.exception("media metrics flush failed; the counts are kept for the next one")
            raise
    return len(stats)


# -- the rolled-up totals (``media_totals``) ---------------------------------------------

def _counts(row) -> dict:
    return {name: int(value) for name, value in zip(STAT_FIELDS, row, strict=True)}


def flushed_totals() -> dict:
    """Every image's flushed counters summed: the one row the flush keeps (zeros before
    the first flush)."""
    row = db.session.execute(
        select(*(MediaTotals.__table__.c[name] for name in STAT_FIELDS))
        .where(MediaTotals.id == TOTALS_ID)).one_or_none()
    return _counts(row or (0,) * len(STAT_FIELDS))


def _summed() -> dict:
    return _counts(db.session.execute(
        select(*(func.coalesce(func.sum(MediaStat.__table__.c[name]), 0)
                 for name in STAT_FIELDS))).one())


@dataclass(frozen=True)
class TotalsDrift:
    stored: dict
    summed: dict

    def differences(self) -> dict:
        return {name: (self.stored[name], self.summed[name]) for name in STAT_FIELDS
                if self.stored[name] != self.summed[name]}


def totals_drift() -> TotalsDrift | None:
    """The rolled-up row against the sum over ``media_stats`` (one pass over the table:
    ``flask doctor --counters``, never a page); None when they agree."""
    stored, summed = flushed_totals(), _summed()
    end_read()
    return None if stored == summed else TotalsDrift(stored, summed)


def repair_totals() -> TotalsDrift | None:
    """Set the rolled-up row to the sum, under the row's lock (PostgreSQL ``FOR UPDATE``;
    SQLite: the unit's write lock): a flush that has not committed waits for it and adds
    its counts after, one that has is in the sum. What changed, or None."""
    with unit_of_work():
        session = db.session
        start = (pg_insert if on_postgresql(session) else sqlite_insert)(MediaTotals.__table__)
        session.execute(start.values(id=TOTALS_ID).on_conflict_do_nothing(index_elements=["id"]))
        session.execute(select(MediaTotals.id).where(MediaTotals.id == TOTALS_ID)
                        .with_for_update())
        stored, summed = flushed_totals(), _summed()
        if stored == summed:
            return None
        session.execute(MediaTotals.__table__.update().where(MediaTotals.id == TOTALS_ID)
                        .values(**summed))
    return TotalsDrift(stored, summed)


def pending():
    """(per image, per hour) counts of this process not flushed yet."""
    return recorder().snapshot()


def prune_events(now: datetime | None = None) -> int:
    """Delete events older than ``events_retention_days``; the number deleted."""
    now = now or utcnow()
    cutoff = now - timedelta(days=media_config().events_retention_days)
    with unit_of_work() as uow:
        deleted = uow.session.execute(delete(MediaEvent).where(MediaEvent.at < cutoff)).rowcount
        uow.session.execute(delete(MediaHourly).where(MediaHourly.hour < cutoff))
    return deleted


# -- wiring ----------------------------------------------------------------------------

def _flush_job(app) -> None:
    with app.app_context():
        try:
            flush(app)
        except Exception:  # noqa: BLE001  (logged in flush; the next run retries)
            pass
        finally:
            db.session.remove()


def _prune_job(app) -> None:
    with app.app_context():
        try:
            prune_events()
        except Exception:
            log.exception("media events prune failed")
            db.session.rollback()
        finally:
            db.session.remove()


def _flush_at_exit(app) -> None:
    try:
        _flush_job(app)
    except Exception:  # noqa: BLE001  (the interpreter is going away)
        log.exception("media metrics: the last flush failed")


def init_app(app) -> None:
    """Flush at a clean exit (not under TESTING: test apps come and go)."""
    recorder(app)
    if not app.testing:
        atexit.register(_flush_at_exit, app)


def schedule(app, scheduler) -> None:
    """Add the flush and prune jobs, and the webhook outbox's, to this process's scheduler."""
    interval = int(app.config["MEDIA_FLUSH_INTERVAL_S"])
    scheduler.add_job(FLUSH_JOB, _flush_job, trigger="interval", seconds=interval,
                      args=[app], replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(PRUNE_JOB, _prune_job, trigger="interval", hours=1, args=[app],
                      replace_existing=True, coalesce=True, max_instances=1)
    # The webhook outbox (app.media.webhooks): the only thing that waits for the scheduler.
    scheduler.add_job(webhooks.DELIVER_JOB, webhooks.deliver_job, trigger="interval",
                      seconds=webhooks.DELIVER_EVERY_S, args=[app], replace_existing=True,
                      coalesce=True, max_instances=1)
    scheduler.add_job(webhooks.PRUNE_JOB, webhooks.prune_job, trigger="interval", hours=1,
                      args=[app], replace_existing=True, coalesce=True, max_instances=1)
