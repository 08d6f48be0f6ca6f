"""How many images, the bytes deleting them frees, and which ones: one aggregate query.

Every count-and-size that a deletion shows or promises over a set of rows (a selection
of the trash, the purge queue) comes from here, so a dry run's ``bytes`` and the real
call's ``bytes_freed`` count the same things: originals, thumbnails and variants. A whole
owner's trash or library is not counted here but read from the owner's counters
(``app.images.counters``), which keep the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select

from app.core.extensions import db
from app.images.models import Image, with_trashed


@dataclass(frozen=True)
class Totals:
    count: int
    bytes: int  # originals, thumbnails and variants, as ``bytes_freed`` counts them
    fingerprint: str  # changes when rows join, leave or change, even with equal totals


def image_totals(condition) -> Totals:
    """Totals of the rows (trashed ones included) matching ``condition``.

    The fingerprint folds in the sum of the rows' versions (every change bumps one) and
    the newest ``deleted_at`` (a row that joins a trash was trashed after the others), so
    it moves when the contents change though count and size stay equal, while the query
    stays one aggregate over an index range however many rows there are.
    """
    row = db.session.execute(
        with_trashed(
            select(func.count(Image.id),
                   func.coalesce(func.sum(Image.total_bytes), 0),
                   func.coalesce(func.sum(Image.version), 0),
                   func.max(Image.deleted_at))
            .where(condition)
        )
    ).one()
    count, size, versions, newest = row
    digest = hashlib.sha256(f"{count}:{size}:{versions}:{newest}".encode()).hexdigest()[:16]
    return Totals(int(count), int(size), digest)
