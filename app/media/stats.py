"""What the media stats answer and page show: SQL totals plus this process's unflushed counts.

Definitions: ``requests`` every answered /media request (200, 206, 304, HEAD);
``cache_hits`` answers with ``X-Cache: HIT``; ``storage_reads_saved`` hits plus 304s (no
storage read either way); ``bytes_saved`` the bytes served from the cache instead of the
storage; ``hit_ratio`` ``storage_reads_saved / requests``. ``heavy_images`` is the seed's
LCP audit: originals of at least ``HEAVY_MIN_BYTES`` viewed at most ``RARELY_VIEWED`` times,
largest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import select

from app.core.db import end_read, utcnow
from app.core.extensions import db
from app.images.counters import totals_for
from app.images.models import Image, OwnerTotals, with_trashed
from app.media.metrics import HOUR_FIELDS, STAT_FIELDS, flushed_totals, pending
from app.media.models import MediaHourly, MediaStat
from app.users.repository import get_users

TOP = 10
HEAVY_MIN_BYTES = 1024 * 1024
RARELY_VIEWED = 2
SERIES_HOURS = 24


def _usernames(ids) -> dict[str, str]:
    """Owners' usernames in one query; "(deleted user)" for an id with no account, and for
    every id while the user store is down (the numbers still answer)."""
    ids = list(ids)
    try:
        names = get_users().names(ids)
    except Exception:  # noqa: BLE001  (the user store is down: ids stay anonymous)
        names = {}
    return {user_id: names.get(user_id, "(deleted user)") for user_id in ids}


# What a listed image shows: its columns only, not 200 whole rows made into objects.
SHOWN = (Image.id, Image.file_name, Image.size_bytes)


def _image_dict(image, counts: dict) -> dict:
    return {"id": str(image.id), "file_name": image.file_name, "size_bytes": image.size_bytes,
            "url": url_for("media.thumbnail", image_id=image.id), "views": counts.get("views", 0),
            "downloads": counts.get("downloads", 0),
            "requests": counts.get("proxy_requests", 0),
            "bytes_served": counts.get("bytes_served", 0),
            "cache_hits": counts.get("cache_hits", 0)}


def _flushed_counts(ids) -> dict:
    """The flushed counters of these images, by primary key."""
    ids = list(ids)
    counts = {}
    for start in range(0, len(ids), 500):
        for row in db.session.execute(
                select(MediaStat).where(MediaStat.image_id.in_(ids[start:start + 500]))).scalars():
            counts[row.image_id] = {name: getattr(row, name) for name in STAT_FIELDS}
    return counts


def _merged(flushed: dict, unflushed: dict, ids) -> dict:
    """Flushed plus this process's unflushed counters, for ``ids``."""
    merged = {}
    for image_id in ids:
        counts = dict(flushed.get(image_id) or dict.fromkeys(STAT_FIELDS, 0))
        for name, value in zip(STAT_FIELDS, unflushed.get(image_id, ()), strict=False):
            counts[name] += value
        merged[image_id] = counts
    return merged


def _top_images(unflushed: dict) -> list[dict]:
    """The most requested images still held (trashed ones included), most first.

    ``ix_media_stats_requests`` gives the flushed leaders; taking as many more as there
    are images with unflushed counts makes the merged ranking exact: only those can have
    overtaken a leader."""
    wanted = TOP * 3
    leaders = db.session.execute(
        select(MediaStat.image_id).where(MediaStat.proxy_requests > 0)
        .order_by(MediaStat.proxy_requests.desc(), MediaStat.image_id)
        .limit(wanted + len(unflushed))).scalars().all()
    candidates = set(leaders) | set(unflushed)
    counts = _merged(_flushed_counts(candidates), unflushed, candidates)
    ranked = sorted((i for i in candidates if counts[i]["proxy_requests"] > 0),
                    key=lambda i: (-counts[i]["proxy_requests"], str(i)))[:wanted]
    if not ranked:
        return []
    live = {image.id: image for image in db.session.execute(
        with_trashed(select(*SHOWN).where(Image.id.in_(ranked),
                                          Image.purge_state.is_(None))))}
    return [_image_dict(live[i], counts[i]) for i in ranked if i in live][:TOP]


def _heavy_images(unflushed: dict) -> list[dict]:
    """The largest live originals viewed at most ``RARELY_VIEWED`` times: the first
    ``TOP * 20`` by size from the partial index ``ix_images_heavy``, their views by
    primary key."""
    large = db.session.execute(
        select(*SHOWN).where(Image.size_bytes >= HEAVY_MIN_BYTES, Image.purge_state.is_(None))
        .order_by(Image.size_bytes.desc(), Image.id).limit(TOP * 20)).all()
    ids = [image.id for image in large]
    counts = _merged(_flushed_counts(ids), unflushed, ids)
    heavy = [image for image in large if counts[image.id]["views"] <= RARELY_VIEWED][:TOP]
    return [_image_dict(image, counts[image.id]) for image in heavy]


def _storage() -> tuple[list[tuple[str, int, int]], int]:
    """(owner, images, bytes) of every owner's images not being purged, and the bytes of
    the trash not being purged: from the per-owner counters (app.images.counters), one
    row per owner, however many images they hold."""
    owners = db.session.execute(select(OwnerTotals.owner_id)).scalars().all()
    storage, trash_bytes = [], 0
    for owner, counts in sorted(totals_for(owners).items()):
        images = counts.active_count + counts.deletable_count
        if images:
            storage.append((owner, images, counts.active_bytes + counts.deletable_bytes))
        trash_bytes += counts.deletable_bytes
    return storage, trash_bytes


def media_stats(now: datetime | None = None) -> dict:
    now = now or utcnow()
    unflushed_stats, unflushed_hours = pending()
    session = db.session

    totals = flushed_totals()  # the flush's rolled-up row, not a sum over media_stats
    for values in unflushed_stats.values():
        for name, value in zip(STAT_FIELDS, values, strict=True):
            totals[name] += value
    requests = totals["proxy_requests"]
    saved = totals["cache_hits"] + totals["not_modified"]
    top = _top_images(unflushed_stats)
    heavy_images = _heavy_images(unflushed_stats)

    storage, trash_bytes = _storage()

    since = (now - timedelta(hours=SERIES_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    hours = {row.hour.replace(tzinfo=since.tzinfo): {n: getattr(row, n) for n in HOUR_FIELDS}
             for row in session.execute(
                 select(MediaHourly).where(MediaHourly.hour >= since)).scalars()}
    end_read()
    for hour, values in unflushed_hours.items():
        if hour >= since:
            counts = hours.setdefault(hour, dict.fromkeys(HOUR_FIELDS, 0))
            for name, value in zip(HOUR_FIELDS, values, strict=True):
                counts[name] += value
    series = []
    for index in range(SERIES_HOURS):
        hour = since + timedelta(hours=index)
        counts = hours.get(hour, dict.fromkeys(HOUR_FIELDS, 0))
        series.append({"hour": hour.strftime("%Y-%m-%dT%H:00:00Z"),
                       "requests": counts["proxy_requests"],
                       "bytes_served": counts["bytes_served"],
                       "cache_hits": counts["cache_hits"] + counts["not_modified"]})

    names = _usernames([owner for owner, _, _ in storage])
    storage_per_user = sorted(
        ({"username": names[owner], "images": count, "bytes": int(total or 0)}
         for owner, count, total in storage), key=lambda u: (-u["bytes"], u["username"]))
    return {
        "requests": requests,
        "bytes_served": totals["bytes_served"],
        "cache_hits": totals["cache_hits"],
        "hit_ratio": round(saved / requests, 4) if requests else 0.0,
        "storage_reads_saved": saved,
        "bytes_saved": totals["bytes_from_cache"],
        "views": totals["views"],
        "downloads": totals["downloads"],
        "top_images": top,
        "heavy_images": heavy_images,
        "storage_per_user": storage_per_user,
        "trash_bytes": int(trash_bytes or 0),
        "series": series,
    }


# -- charts ----------------------------------------------------------------------------

@dataclass
class BarChart:
    """Bars per hour with a y scale; sized so 12-unit text stays legible on a phone."""

    width: int = 420
    height: int = 200
    left: int = 56
    right: int = 412
    top: int = 12
    bottom: int = 170
    bars: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    total: int = 0


def _nice(value: float) -> float:
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * 10 ** exponent >= value:
            return step * 10 ** exponent
    return 10 ** (exponent + 1)  # pragma: no cover


def hourly_chart(series: list[dict], key: str) -> BarChart:
    chart = BarChart()
    values = [point[key] for point in series]
    chart.total = sum(values)
    if not series:
        return chart
    top_value = _nice(max(values))
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    slot = plot_w / len(series)
    for fraction in (0, 0.5, 1):
        chart.ticks.append({"y": chart.bottom - fraction * plot_h, "value": top_value * fraction})
    seen = set()
    for index, point in enumerate(series):
        height = plot_h * point[key] / top_value
        chart.bars.append({"x": chart.left + slot * index + slot * 0.15, "width": slot * 0.7,
                           "y": chart.bottom - height, "height": height,
                           "value": point[key], "hour": point["hour"][11:16]})
        text = point["hour"][11:16]
        if index % 6 == 0 and text not in seen:  # four labels, never the same one twice
            seen.add(text)
            chart.labels.append({"x": chart.left + slot * (index + 0.5), "text": text})
    return chart
