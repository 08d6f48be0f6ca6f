"""The unit of work: one place where a change begins, commits, and is announced.

    with unit_of_work() as uow:          # SQLite: the write lock, up front
        ... read under the lock, change rows, audit.append(...) ...
        uow.emit(ImagesTrashed(ids))
    # committed; the user-store lock (if taken inside) released; now the events go out

**Lock order** (the one place it is written down): the SQL write lock (``begin_write``)
may be followed by the user-store lock (``UserRepository.exclusive``), never the other
way round. Code holding the user-store lock runs no SQL; what a user-store change means
for others (the media access generation, sessions to stop) is an event, delivered here
after both locks are gone. A thread therefore never waits for SQL while holding the store
lock, and the two can never wait for each other.

Units nest: an inner ``unit_of_work()`` joins the outer one (its ``write=True`` takes the
write lock if the transaction does not hold it yet, e.g. after a step committed), and
only the outermost commits and delivers.
An exception rolls back what is not yet committed and drops its events. Long actions
commit in steps (a purge claim is committed before the object store is called); the
events emitted before such a commit are kept and still delivered when the unit ends, even
if a later step fails, because what they say did happen. So emit *before* committing.

Read helpers never commit; a view that only reads needs no unit of work.

**Staged writes** (``stage()``): a change may leave work for the end of its transaction,
such as the per-owner counters (``app.images.counters``) that sum what every statement
of the unit did. The state lives on the unit; its ``flush`` runs inside the same
transaction just before every commit of it (the outermost unit's, ``uow.commit()`` and
even a bare ``session.commit()``), and a rollback drops it with the changes it counted.
Core knows no domain: the caller brings the state and the flush.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.core.db import begin_write, plain_session
from app.core.events import Event, deliver
from app.core.extensions import db


class UnitOfWorkWarning(RuntimeWarning):
    """An event emitted outside any unit of work: delivered at once, maybe before commit."""


class UnitOfWork:
    __slots__ = ("session", "write", "sql", "events", "staged")

    def __init__(self, session, *, write: bool, sql: bool):
        self.session, self.write, self.sql = session, write, sql
        self.events: list[list] = []  # [event, settled]: settled events survive a failure
        self.staged: dict[str, list] = {}  # key -> [state, flush], until the next commit

    def stage(self, key: str, factory: Callable[[], Any],
              flush: Callable[[Any], None]) -> Any:
        """The state staged under ``key`` for this transaction (made by ``factory()`` the
        first time); ``flush(state)`` writes it in the transaction just before it
        commits. Dropped, unwritten, when the transaction rolls back."""
        entry = self.staged.get(key)
        if entry is None:
            entry = self.staged[key] = [factory(), flush]
        return entry[0]

    def _flush_staged(self) -> None:
        while self.staged:  # what a flush stages in turn is written in the same commit
            staged, self.staged = self.staged, {}
            for state, flush in staged.values():
                flush(state)

    def emit(self, event: Event, *, settled: bool = False) -> None:
        """Announce ``event`` when this unit ends. ``settled``: it is already true (a
        user-store write, which no rollback undoes); otherwise it becomes true when the
        SQL transaction commits and is dropped if it rolls back."""
        self.events.append([event, settled])

    def commit(self) -> None:
        """Commit a step of a long action now (a saga's claim before the object store is
        called). Events emitted so far become true and survive a later failure; the
        write lock is taken again by the next ``unit_of_work()`` or ``begin_write``."""
        if self.sql:
            self.session.commit()

    def _settle(self) -> None:
        for pending in self.events:
            pending[1] = True

    def _deliver(self, *, settled_only: bool) -> None:
        for event, settled in self.events:
            if settled or not settled_only:
                deliver(event)


_current: ContextVar[UnitOfWork | None] = ContextVar("papelera_unit_of_work", default=None)


@contextmanager
def unit_of_work(*, write: bool = True, sql: bool = True, session=None) -> Iterator[UnitOfWork]:
    """``write``: take the SQL write lock up front. ``sql=False``: a change of the user
    store only; the SQL session is neither committed nor rolled back (a unit around
    ``UserRepository.exclusive`` is one: its events wait for the store lock's release)."""
    outer = _current.get()
    if outer is not None:
        if sql and write:  # a no-op while the transaction already writes
            begin_write(outer.session)
            outer.write = True
        yield outer
        return
    session = db.session if session is None else session
    uow = UnitOfWork(session, write=write and sql, sql=sql)
    token = _current.set(uow)
    try:
        if uow.write:
            begin_write(session)
        yield uow
        if sql:
            session.commit()
    except BaseException:
        if sql:
            session.rollback()
        _current.reset(token)
        uow._deliver(settled_only=True)
        raise
    _current.reset(token)
    uow._deliver(settled_only=False)


def _unit_of(session) -> UnitOfWork | None:
    """The current unit when ``session`` is its session (another session's commit is not
    this unit's)."""
    uow = _current.get()
    if uow is None or not uow.sql or plain_session(uow.session) is not session:
        return None
    return uow


@sa_event.listens_for(Session, "before_commit")
def _flush_staged(session) -> None:
    uow = _unit_of(session)
    if uow is not None:
        uow._flush_staged()


@sa_event.listens_for(Session, "after_commit")
def _events_now_true(_session) -> None:
    uow = _current.get()
    if uow is not None:
        uow._settle()


@sa_event.listens_for(Session, "after_rollback")
def _drop_staged(session) -> None:
    uow = _unit_of(session)
    if uow is not None:
        uow.staged.clear()


def emit(event: Event, *, settled: bool = False) -> None:
    """Announce ``event`` through the current unit of work.

    Outside one it is delivered at once with a ``UnitOfWorkWarning`` (an error in the
    test suite): every change is meant to run inside a unit of work.
    """
    uow = _current.get()
    if uow is not None:
        uow.emit(event, settled=settled)
        return
    warnings.warn(f"{type(event).__name__} emitted outside a unit of work",
                  UnitOfWorkWarning, stacklevel=2)
    deliver(event)


def stage(key: str, factory: Callable[[], Any], flush: Callable[[Any], None]) -> Any:
    """``UnitOfWork.stage`` on the current unit of work.

    Outside one there is no commit to wait for: a ``UnitOfWorkWarning`` (an error in the
    test suite) and None; the caller then writes at once, in the session's transaction."""
    uow = _current.get()
    if uow is not None and uow.sql:
        return uow.stage(key, factory, flush)
    warnings.warn(f"{key} staged outside a unit of work", UnitOfWorkWarning, stacklevel=2)
    return None


def staged(key: str) -> Any:
    """The state staged under ``key`` in the current unit and not yet written (None): a
    read inside the unit adds it to what is committed (it reads its own writes)."""
    uow = _current.get()
    entry = uow.staged.get(key) if uow is not None else None
    return entry[0] if entry is not None else None
