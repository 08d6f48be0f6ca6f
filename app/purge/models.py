"""What the purge keeps in SQL: one row per run, and the lease that keeps runs apart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime
from app.core.extensions import db

# At most this many error messages are kept on a run row; the count is always exact.
MAX_ERROR_MESSAGES = 50


class PurgeRun(db.Model):
    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    # Every batch of the run claims with ``purge:<token>:<n>``, so a claimed row tells
    # which run took it.
    token: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # scheduler|cli|api
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    # running → finished | stopped (time budget or lost lease) | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    older_than_days: Mapped[int | None] = mapped_column(Integer)
    claimed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bytes_freed: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    remaining: Mapped[int | None] = mapped_column(Integer)
    error_messages: Mapped[list] = mapped_column(JSON, nullable=False, default=list)

    __table_args__ = (Index("ix_purge_runs_started", "started_at", "id"),)

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def __repr__(self) -> str:
        return f"<PurgeRun {self.id} {self.trigger} {self.status} deleted={self.deleted}>"


class Lease(db.Model):
    """A named lock with an expiry, held by whoever last took or renewed it in time."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
