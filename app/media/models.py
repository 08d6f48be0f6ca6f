"""Stored variants of an image: one row per object the server rendered and kept."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import db


class ImageVariant(db.Model):
    """A resized/re-encoded copy, stored under a server-made key.

    The row goes with its image (``ON DELETE CASCADE``); the object is deleted by the
    purge's batch function, which reads these keys before deleting the image rows.
    """

    __tablename__ = "image_variants"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    image_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    fmt: Mapped[str] = mapped_column(String(8), nullable=False)
    quality: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("image_id", "width", "fmt", "quality", name="uq_image_variants_kind"),
    )


class MediaStat(db.Model):
    """Per image usage counters, added to by each metrics flush (no foreign key: a flush
    may land after a purge; stats join with live images)."""

    __tablename__ = "media_stats"

    image_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    downloads: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    proxy_requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_served: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cache_hits: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    not_modified: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_from_cache: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


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
