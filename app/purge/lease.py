"""A lease in SQL: one holder at a time across threads, processes and hosts.

Taking the lease is one conditional upsert, ``INSERT … ON CONFLICT (name) DO UPDATE …
WHERE leases.expires_at <= :now OR leases.holder = :me``, committed at once: it inserts
the row the first time, takes it over when the previous holder let it expire (it died,
or hung longer than the TTL), and otherwise changes nothing. Renewing is one
``UPDATE … WHERE holder = :me``. Both run the same on SQLite and PostgreSQL; the
database decides, so two callers can never both win. Each statement is a unit of work of
its own, committed at once (``_own_transaction``).

Times come from the caller's wall clock: hosts sharing a database are assumed to keep
their clocks in sync (NTP) to well within the TTL.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.db import end_read, has_pending_writes, utcnow
from app.core.extensions import db
from app.core.uow import unit_of_work
from app.purge.models import Lease

PURGE_LEASE = "purge"


def new_holder() -> str:
    """Unique per acquisition, not per process: two threads of one worker must not share."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(6)}"


@contextmanager
def _own_transaction(*, after_failure: bool = False) -> Iterator[Session]:
    """A lease statement is a transaction of its own, committed at once even inside a
    larger unit of work (as a saga's step: ``uow.commit()``), so that other workers see
    it. It never commits someone else's change: with a change pending it refuses, or,
    for ``release`` after a failure (``after_failure``), rolls that change back first."""
    session = db.session
    if has_pending_writes(session):
        if not after_failure:
            raise RuntimeError("a lease runs in a transaction of its own: commit the change first")
        session.rollback()  # whatever failed before, the release must still happen
    end_read(session)
    with unit_of_work() as uow:
        yield session
        uow.commit()


def acquire(name: str, holder: str, *, ttl_s: float, now: datetime) -> bool:
    """Take the lease unless someone else holds it unexpired. Commits."""
    table = Lease.__table__
    expires_at = now + timedelta(seconds=ttl_s)
    with _own_transaction() as session:
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        statement = insert(table).values(name=name, holder=holder, acquired_at=now,
                                         expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"holder": statement.excluded.holder,
                  "acquired_at": statement.excluded.acquired_at,
                  "expires_at": statement.excluded.expires_at},
            where=or_(table.c.expires_at <= now, table.c.holder == holder),
        )
        # RETURNING, not rowcount: drivers do not all report a rowcount for an upsert.
        return session.connection().execute(
            statement.returning(table.c.holder)).first() is not None


def renew(name: str, holder: str, *, ttl_s: float, now: datetime) -> bool:
    """Push the expiry out; False when someone else has taken the lease. Commits."""
    table = Lease.__table__
    with _own_transaction() as session:
        result = session.connection().execute(
            update(table).where(table.c.name == name, table.c.holder == holder)
            .values(expires_at=now + timedelta(seconds=ttl_s))
        )
        return result.rowcount == 1


def release(name: str, holder: str, *, now: datetime) -> bool:
    """Let the lease go at once (it expires now), if it is still ours. Commits, also
    after a failure that left a change pending (rolled back first)."""
    table = Lease.__table__
    with _own_transaction(after_failure=True) as session:
        result = session.connection().execute(
            update(table).where(table.c.name == name, table.c.holder == holder)
            .values(expires_at=now)
        )
        return result.rowcount == 1


def current_holder(name: str, *, now: datetime) -> Lease | None:
    """The live lease on ``name``, or None when it is free."""
    lease = db.session.execute(
        select(Lease).where(Lease.name == name, Lease.expires_at > now)
    ).scalar_one_or_none()
    end_read()
    return lease


@dataclass
class HeldLease:
    """A lease this caller holds: renew it while working, release it when done."""

    name: str
    holder: str
    ttl_s: float
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def try_take(cls, name: str, *, ttl_s: float,
                 clock: Callable[[], datetime] = utcnow) -> HeldLease | None:
        holder = new_holder()
        if acquire(name, holder, ttl_s=ttl_s, now=clock()):
            return cls(name, holder, ttl_s, clock)
        return None

    def renew(self) -> bool:
        return renew(self.name, self.holder, ttl_s=self.ttl_s, now=self.clock())

    def release(self) -> bool:
        return release(self.name, self.holder, now=self.clock())
