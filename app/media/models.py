"""Media's own tables: usage counters and events, IP blocks, the webhook outbox, share links."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.core.extensions import db


class StatCounters:
    """What the flush adds up per image (``app.media.metrics.STAT_FIELDS``)."""

    views: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    downloads: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    proxy_requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_served: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cache_hits: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    not_modified: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_from_cache: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class MediaStat(StatCounters, db.Model):
    """Per image usage counters, added to by each metrics flush (no foreign key: a flush
    may land after a purge; stats join with live images)."""

    __tablename__ = "media_stats"

    image_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)

    @declared_attr.directive
    def __table_args__(cls):
        return (Index("ix_media_stats_requests", cls.proxy_requests.desc(), "image_id"),)


class MediaTotals(StatCounters, db.Model):
    """Every image's counters summed: one row (``id`` 1), added to by the same flush that
    adds to ``media_stats``, so the totals are read, never summed over a row per image.
    ``flask doctor --counters`` checks it against the sum (``app.media.metrics``)."""

    __tablename__ = "media_totals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class MediaHourly(db.Model):
    """Every image together, per hour: the stats page's series."""

    __tablename__ = "media_hourly"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    proxy_requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_served: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cache_hits: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    not_modified: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_from_cache: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class MediaEvent(db.Model):
    """An access (``kind`` ``view``/``download``), or ``upload``, ``variant``, ``delete``.

    ``ip`` is truncated to its /24 (IPv4) or /48 (IPv6) network before it is kept; rows
    older than ``events_retention_days`` are pruned by the scheduler.
    """

    __tablename__ = "media_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    image_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[int | None] = mapped_column(Integer)
    cache_hit: Mapped[bool | None] = mapped_column(db.Boolean)
    bytes: Mapped[int | None] = mapped_column(BigInteger)


class IpBlock(db.Model):
    """An automatic block of one client address (SPEC section 8).

    Active while ``lifted_at`` is null and ``expires_at`` is null (until lifted) or in the
    future. Rows are kept after they end: the history of who was blocked, and why.
    """

    __tablename__ = "ip_blocks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    ip: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    image_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(db.Model):
    """One webhook message in the outbox (``app.media.webhooks``).

    Written in the transaction of the change it reports (an auto-block), so a crash after
    that commit cannot lose it; the scheduler delivers it. Pending while
    ``next_attempt_at`` is set; delivery or giving up clears it and stamps
    ``delivered_at`` or ``gave_up_at``. ``payload`` is the exact JSON body sent; the
    secret is never stored: the signature is computed at delivery with the current one.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True,
                                                             index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ShareLinkRecord(db.Model):
    """One share link to an image (SPEC section 8, "Share links, managed").

    Its ``id`` rides in the signed URL (``sid``), so the link is refused from the moment
    ``revoked_at`` is set. ``expires_at`` is the URL's ``exp``: asking again for the same
    image and expiry within ``SHARE_LINK_WINDOW_S`` finds this row and answers the same
    URL. Rows go with their image (``ON DELETE CASCADE``); a purged image's link is 404.
    """

    __tablename__ = "share_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def etag(self) -> str:
        """Changes when the link is revoked (``If-Match`` on the revoke route)."""
        return f'"share-{self.id}-{"revoked" if self.revoked_at else "live"}"'
