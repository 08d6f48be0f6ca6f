"""Per-owner counters: how many images each owner has and how many bytes they take, in
the gallery and in the trash, kept exact in the transaction of every change.

One row per owner in ``owner_totals`` (``OwnerTotals``). Every function that changes an
image row tells this module what the statement did, from the rows it really changed
(the ORM object it holds, or a set-based UPDATE or DELETE run through ``counted``, which
reads ``RETURNING owner_id, total_bytes`` and applies the rule named). The deltas add up
on the current unit of work (``app.core.uow.stage``) and are written by one
``INSERT … ON CONFLICT DO UPDATE SET x = x + :d`` per owner, in owner order, inside the
same transaction just before it commits: a rollback takes them with the change, a
concurrent writer adds its own on top, and the hot row of a busy owner is locked only
for the commit itself. Not an event subscriber: subscribers run
after the commit, when a crash would leave the counters behind.

The rules (bytes are ``Image.total_bytes``: original, thumbnail and variants):

=============================  ===========================================================
upload                         active +1 / +bytes
trash (one, many, a user's)    active −1 / −bytes, trashed +1 / +bytes
restore (one, many, all)       trashed −1 / −bytes, active +1 / +bytes
claim (purge, empty, delete)   purging +1 / +bytes (the row stays in the trash)
release (store failed)         purging −1 / −bytes
row deleted (its claim)        trashed −1 / −bytes, purging −1 / −bytes
variant stored / evicted       ±bytes where the row is (active or trashed)
=============================  ===========================================================

``trash_changes`` moves with every change of what emptying or restoring the trash would
take (rows in and out of the trash, claims and releases, bytes of a trashed row): the
trash's fingerprint, as the sum of versions was. Rows being purged are in the trash until
their row is deleted (as the trash page lists them), and ``purging_*`` says how many.
Global totals are the sum over the rows: one per owner. The number of items *due* depends
on the clock: ``due_count`` reads it from the ``ix_images_purge`` range, never a counter.
``flask doctor --counters`` recounts and repairs (``recount``, ``drift``, ``repair``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.db import on_postgresql
from app.core.extensions import db
from app.core.uow import stage, staged, unit_of_work
from app.images.models import Image, OwnerTotals, with_trashed

FIELDS = ("active_count", "active_bytes", "trashed_count", "trashed_bytes",
          "purging_count", "purging_bytes", "trash_changes")
COUNTED = FIELDS[:-1]  # what a recount can tell; ``trash_changes`` is history
_KEY = "owner_totals"
_TABLE = OwnerTotals.__table__


@dataclass(frozen=True)
class Counts:
    """One owner's numbers (or everyone's: ``global_totals``)."""

    active_count: int = 0
    active_bytes: int = 0
    trashed_count: int = 0
    trashed_bytes: int = 0
    purging_count: int = 0
    purging_bytes: int = 0
    trash_changes: int = 0

    @property
    def count(self) -> int:
        """Every image, trashed ones included."""
        return self.active_count + self.trashed_count

    @property
    def bytes(self) -> int:
        return self.active_bytes + self.trashed_bytes

    @property
    def deletable_count(self) -> int:
        """Items of the trash not being purged: what emptying it or restoring all takes."""
        return self.trashed_count - self.purging_count

    @property
    def deletable_bytes(self) -> int:
        return self.trashed_bytes - self.purging_bytes

    @property
    def trash_fingerprint(self) -> str:
        """Moves with every change of what the trash holds, even at equal totals."""
        text = f"{self.deletable_count}:{self.deletable_bytes}:{self.trash_changes}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def counted(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in COUNTED)

    def plus(self, deltas: list[int] | None) -> Counts:
        if not deltas:
            return self
        return Counts(*(value + delta for value, delta in
                        zip((getattr(self, f.name) for f in fields(self)), deltas, strict=True)))


# -- the rules ----------------------------------------------------------------------------

class _Deltas(dict):
    """owner id -> seven deltas, in the order of ``FIELDS``."""

    def add(self, owner_id: str, **changes: int) -> None:
        row = self.get(owner_id)
        if row is None:
            row = self[owner_id] = [0] * len(FIELDS)
        for name, value in changes.items():
            row[FIELDS.index(name)] += value


def _record(owner_id: str, **changes: int) -> None:
    deltas = stage(_KEY, _Deltas, _write)
    if deltas is None:  # outside a unit of work (warned): write at once, same transaction
        deltas = _Deltas()
        deltas.add(str(owner_id), **changes)
        _write(deltas)
        return
    deltas.add(str(owner_id), **changes)


Rows = Iterable[tuple[str, int]]  # (owner id, total bytes) of each row a statement changed


def uploaded(owner_id: str, nbytes: int) -> None:
    _record(owner_id, active_count=1, active_bytes=nbytes)


def trashed(rows: Rows) -> None:
    for owner_id, nbytes in rows:
        _record(owner_id, active_count=-1, active_bytes=-nbytes, trashed_count=1,
                trashed_bytes=nbytes, trash_changes=1)


def restored(rows: Rows) -> None:
    for owner_id, nbytes in rows:
        _record(owner_id, active_count=1, active_bytes=nbytes, trashed_count=-1,
                trashed_bytes=-nbytes, trash_changes=1)


def claimed(rows: Rows) -> None:
    for owner_id, nbytes in rows:
        _record(owner_id, purging_count=1, purging_bytes=nbytes, trash_changes=1)


def released(rows: Rows) -> None:
    for owner_id, nbytes in rows:
        _record(owner_id, purging_count=-1, purging_bytes=-nbytes, trash_changes=1)


def erased(rows: Rows) -> None:
    """Rows deleted under their claim (they were in the trash, being purged)."""
    for owner_id, nbytes in rows:
        _record(owner_id, trashed_count=-1, trashed_bytes=-nbytes, purging_count=-1,
                purging_bytes=-nbytes)


def bytes_changed(owner_id: str, *, is_deleted: bool, purging: bool, delta: int) -> None:
    """A row's stored bytes changed (a variant stored or evicted), where the row is."""
    if not delta:
        return
    if not is_deleted:
        _record(owner_id, active_bytes=delta)
    elif purging:
        _record(owner_id, trashed_bytes=delta, purging_bytes=delta)
    else:
        _record(owner_id, trashed_bytes=delta, trash_changes=1)


RETURNED = (Image.owner_id, Image.total_bytes)  # what a set-based statement returns for us


def counted(statement, rule: Callable[[Rows], None]) -> tuple[uuid.UUID, ...]:
    """Run a set-based UPDATE or DELETE of image rows and count the rows it really changed
    by ``rule`` (``trashed``, ``restored``, ``claimed``, ``released``, ``erased``), from
    their ``RETURNING``; the ids of those rows."""
    rows = db.session.execute(
        statement.returning(Image.id, *RETURNED).execution_options(synchronize_session=False)
    ).all()
    rule((owner_id, nbytes) for _, owner_id, nbytes in rows)
    return tuple(image_id for image_id, _, _ in rows)


def _write(deltas: _Deltas) -> None:
    """One upsert per owner, in owner order (concurrent units lock the rows in one order)."""
    rows = [{"owner_id": owner_id, **dict(zip(FIELDS, values, strict=True))}
            for owner_id, values in sorted(deltas.items()) if any(values)]
    if not rows:
        return
    session = db.session
    upsert = (pg_insert if on_postgresql(session) else sqlite_insert)(_TABLE)
    upsert = upsert.on_conflict_do_update(
        index_elements=["owner_id"],
        set_={name: _TABLE.c[name] + upsert.excluded[name] for name in FIELDS})
    for row in rows:  # one statement each: the order of the locks is the order here
        session.execute(upsert, row)


# -- reads ---------------------------------------------------------------------------------

def _pending(owner_id: str) -> list[int] | None:
    deltas = staged(_KEY)
    return deltas.get(str(owner_id)) if deltas else None


def _counts(row) -> Counts:
    return Counts(*(int(value or 0) for value in row))


def owner_totals(owner_id: str) -> Counts:
    """The owner's numbers, this unit's own changes included. One primary-key read."""
    row = db.session.execute(
        select(*(_TABLE.c[name] for name in FIELDS))
        .where(_TABLE.c.owner_id == str(owner_id))).first()
    return (_counts(row) if row is not None else Counts()).plus(_pending(owner_id))


def totals_for(owner_ids: Iterable[str]) -> dict[str, Counts]:
    """``owner_totals`` of several owners (missing ones: zeros), 500 a statement."""
    wanted = sorted({str(owner_id) for owner_id in owner_ids})
    found = {owner_id: Counts() for owner_id in wanted}
    for start in range(0, len(wanted), 500):
        for row in db.session.execute(
                select(_TABLE.c.owner_id, *(_TABLE.c[name] for name in FIELDS))
                .where(_TABLE.c.owner_id.in_(wanted[start:start + 500]))):
            found[row[0]] = _counts(row[1:])
    return {owner_id: counts.plus(_pending(owner_id)) for owner_id, counts in found.items()}


def every_owner() -> Iterator[tuple[str, Counts]]:
    """(owner id, numbers) for every owner with a counter row (one row per owner): the
    storage per user without a scan of ``images``. Committed numbers only."""
    for row in db.session.execute(
            select(_TABLE.c.owner_id, *(_TABLE.c[name] for name in FIELDS))):
        yield row[0], _counts(row[1:])


def global_totals() -> Counts:
    """Everyone's numbers: the sum over ``owner_totals`` (one row per owner)."""
    row = db.session.execute(
        select(*(func.coalesce(func.sum(_TABLE.c[name]), 0) for name in FIELDS))).one()
    totals = _counts(row)
    deltas = staged(_KEY)
    for values in (deltas or {}).values():
        totals = totals.plus(values)
    return totals


def due_count(now, owner_id: str | None = None) -> int:
    """Trashed rows whose ``purge_after`` has passed (being purged or not), read from the
    ``ix_images_purge`` range (``ix_images_trash`` for one owner): time-dependent, so
    never a counter."""
    condition = [Image.is_deleted.is_(True), Image.purge_after <= now]
    if owner_id is not None:
        condition.append(Image.owner_id == str(owner_id))
    return int(db.session.execute(
        with_trashed(select(func.count()).select_from(Image).where(*condition))).scalar_one())


# -- recount and repair (``flask doctor --counters``) -----------------------------------

def _recount_statement(*extra):
    active = Image.is_deleted.is_(False)
    trashed_ = Image.is_deleted.is_(True)
    purging = Image.purge_state == "purging"

    def total(condition, value):
        return func.coalesce(func.sum(case((condition, value), else_=0)), 0)

    size = Image.total_bytes
    return with_trashed(select(
        Image.owner_id, total(active, 1), total(active, size), total(trashed_, 1),
        total(trashed_, size), total(trashed_ & purging, 1), total(trashed_ & purging, size),
        *extra,
    ).group_by(Image.owner_id))


def recount(owner_id: str) -> Counts:
    """The owner's numbers counted from ``images`` (``trash_changes`` left at 0)."""
    row = db.session.execute(
        _recount_statement().where(Image.owner_id == str(owner_id))).first()
    return _counts((*row[1:], 0)) if row is not None else Counts()


@dataclass(frozen=True)
class Drift:
    owner_id: str
    stored: Counts
    actual: Counts

    def differences(self) -> dict[str, tuple[int, int]]:
        """``{field: (stored, counted)}`` for each field that differs."""
        return {name: (getattr(self.stored, name), getattr(self.actual, name))
                for name in COUNTED if getattr(self.stored, name) != getattr(self.actual, name)}


def drift() -> Iterator[Drift]:
    """Owners whose counters differ from a recount of ``images``.

    One grouped query over ``images``, streamed (rows of 1,000 owners at a time: one row
    per owner, never per image), against the counter rows (one per owner, read whole).
    Read without locks: a change committed meanwhile may show as drift here; ``repair``
    counts again under the owner's lock before it writes anything."""
    stored = {row[0]: _counts(row[1:]) for row in db.session.execute(
        select(_TABLE.c.owner_id, *(_TABLE.c[name] for name in FIELDS)))}
    seen = set()
    rows = db.session.execute(_recount_statement().execution_options(yield_per=1000))
    for row in rows:
        owner_id = row[0]
        seen.add(owner_id)
        actual = _counts((*row[1:], 0))
        mine = stored.get(owner_id, Counts())
        if mine.counted() != actual.counted():
            yield Drift(owner_id, mine, actual)
    for owner_id, mine in stored.items():
        if owner_id not in seen and any(mine.counted()):
            yield Drift(owner_id, mine, Counts())


def counter_rows() -> int:
    return int(db.session.execute(select(func.count()).select_from(_TABLE)).scalar_one())


def repair(owner_id: str) -> Drift | None:
    """Set the owner's counters to a recount, under the owner's lock; what changed (None:
    nothing did).

    The counter row is locked first (PostgreSQL ``FOR UPDATE``; SQLite: the unit's write
    lock), then the owner's rows are counted: a change that commits before the count is
    in it, and one that has not committed yet waits for this lock to add its delta, so
    the recount never overwrites a concurrent change. ``trash_changes`` moves on (the
    trash's ETag changes with the numbers)."""
    owner_id = str(owner_id)
    with unit_of_work():
        session = db.session
        start = (pg_insert if on_postgresql(session) else sqlite_insert)(_TABLE)
        session.execute(start.values(owner_id=owner_id).on_conflict_do_nothing(
            index_elements=["owner_id"]))
        row = session.execute(
            select(*(_TABLE.c[name] for name in FIELDS))
            .where(_TABLE.c.owner_id == owner_id).with_for_update()).one()
        stored = _counts(row)
        actual = recount(owner_id)
        if stored.counted() == actual.counted():
            return None
        session.execute(update(_TABLE).where(_TABLE.c.owner_id == owner_id).values(
            **dict(zip(COUNTED, actual.counted(), strict=True)),
            trash_changes=_TABLE.c.trash_changes + 1))
    return Drift(owner_id, stored, actual)


def reset(owner_ids: Iterable[str] | None = None) -> None:
    """Rebuild the counters from ``images`` (every owner, or ``owner_ids``) in one unit:
    for rows written straight into SQL (tests, benchmarks, imports), not for repairs
    while the app runs (``repair`` is the one that is safe then)."""
    with unit_of_work():
        session = db.session
        statement = _TABLE.delete()
        recounted = _recount_statement(literal(0))
        if owner_ids is not None:
            wanted = sorted({str(o) for o in owner_ids})
            statement = statement.where(_TABLE.c.owner_id.in_(wanted))
            recounted = recounted.where(Image.owner_id.in_(wanted))
        session.execute(statement)
        session.execute(insert(_TABLE).from_select(["owner_id", *FIELDS], recounted))
