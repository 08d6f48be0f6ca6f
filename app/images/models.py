"""The Image row, and the one mechanism that hides trashed images everywhere.

Every ORM SELECT gets ``is_deleted = false`` added by a ``do_orm_execute`` hook, so no
query has to remember it. Code that must see the trash (trash, restore, purge, export)
says so with the ``include_trashed`` execution option: ``with_trashed(stmt)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    event,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, with_loader_criteria

from app.core.db import UTCDateTime, utcnow
from app.core.extensions import db

INCLUDE_TRASHED = "include_trashed"


# What the purge's totals read of a due row, carried in ``ix_images_purge``.
PURGE_COVERED = ("purge_state", "size_bytes", "thumbnail_bytes", "variant_bytes", "version",
                 "deleted_at")


class Image(db.Model):
    __tablename__ = "images"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(64), nullable=False)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    thumbnail_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    thumbnail_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Bytes of the stored variants (app.media); bumped with each new variant's row.
    variant_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                               server_default="0")
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    is_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(64))
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_state: Mapped[str | None] = mapped_column(String(16))
    claim_id: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        Index("ix_images_gallery", "owner_id", "is_deleted", "created_at", "id"),
        Index("ix_images_trash", "owner_id", "is_deleted", "deleted_at", "id"),
        # Due rows by deadline, and (below) rows in flight, each covering what the purge's
        # totals add up (migration 0016): the overview and dry runs sum from the indexes.
        Index("ix_images_purge", "is_deleted", "purge_after", *PURGE_COVERED),
        Index("ix_images_claim", "claim_id"),
        # Partial indexes (migration 0014), predicates as the queries render them: rows
        # in flight (the purge's reclaim and totals); live images largest first (media).
        Index("ix_images_purging", "claimed_at", *PURGE_COVERED,
              postgresql_where=text("purge_state = 'purging'"),
              sqlite_where=text("purge_state = 'purging'")),
        Index("ix_images_heavy", size_bytes.desc(), "id",
              postgresql_where=text("is_deleted IS false AND purge_state IS NULL"),
              sqlite_where=text("is_deleted IS 0 AND purge_state IS NULL")),
    )

    @property
    def etag(self) -> str:
        return f'"{self.id.hex}-{self.version}"'

    @hybrid_property
    def total_bytes(self) -> int:
        """Every stored byte of the image: original, thumbnail and variants."""
        return self.size_bytes + (self.thumbnail_bytes or 0) + (self.variant_bytes or 0)

    @total_bytes.inplace.expression
    @classmethod
    def _total_bytes_expression(cls):
        return cls.size_bytes + cls.thumbnail_bytes + cls.variant_bytes

    def __repr__(self) -> str:
        return f"<Image {self.id} owner={self.owner_id} deleted={self.is_deleted}>"


def reload(image_id) -> Image | None:
    """The row as it is now in the database, trashed or not (None when it is gone)."""
    from sqlalchemy import select

    statement = with_trashed(select(Image).where(Image.id == image_id))
    return db.session.execute(
        statement.execution_options(populate_existing=True)
    ).scalar_one_or_none()


def image_id_or_none(value) -> uuid.UUID | None:
    """``value`` (a UUID, or its text in any form ``uuid.UUID`` reads) as an image id;
    None when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def with_trashed(statement):
    """Opt a statement in to seeing trashed rows."""
    return statement.execution_options(**{INCLUDE_TRASHED: True})


@event.listens_for(Session, "do_orm_execute")
def _hide_trashed(state):
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get(INCLUDE_TRASHED, False)
    ):
        state.statement = state.statement.options(
            with_loader_criteria(Image, Image.is_deleted.is_(False), include_aliases=True)
        )


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
    # Rendered, or read from storage (a cache miss); None before migration 0012. The least
    # recently used go first once an image holds MEDIA_MAX_VARIANTS_PER_IMAGE.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("image_id", "width", "fmt", "quality", name="uq_image_variants_kind"),
    )


class OwnerTotals(db.Model):
    """One owner's images in numbers, kept in the transaction of every change to them
    (``app.images.counters``): what the gallery, the trash badge, the dry runs and the
    purge overview show, without counting rows. Bytes are ``Image.total_bytes``; rows
    being purged (``purging``) are in the trash until their row is deleted, and also
    counted in ``purging_*``. ``trash_changes`` moves with every change of what the
    trash holds (the trash's fingerprint)."""

    __tablename__ = "owner_totals"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    active_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    trashed_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    trashed_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    purging_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    purging_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
    trash_changes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                             server_default="0")
