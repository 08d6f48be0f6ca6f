"""The append-only audit table. Rows are chained by ``prev_hash`` -> ``hash``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime
from app.core.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    # Assigned by the writer under the chain lock, so the sequence has no gaps.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"),
                                    primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    __table_args__ = (
        Index("ix_audit_actor", "actor_id", "id"),
        Index("ix_audit_actor_action", "actor_id", "action", "id"),  # migration 0014
        Index("ix_audit_action", "action", "id"),
        Index("ix_audit_target", "target_id", "id"),
    )


class AuditHead(db.Model):
    """One row: the newest event's id and hash, written with every event.

    The chain itself cannot show that its newest events were cut off; the head can.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(db.Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"),
                                         nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
