"""SQL helpers shared by every model: UTC times and engine-specific set-up."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.types import TypeDecorator

from app.core.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out, whatever the engine stores.

    SQLite keeps no zone; PostgreSQL keeps ``timestamptz``. Both give back aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def on_postgresql(session) -> bool:
    """Whether ``session`` talks to PostgreSQL (advisory locks, SKIP LOCKED)."""
    return session.get_bind().dialect.name == "postgresql"


# Transactions on SQLite (SPEC section 3, issue 8 item 6).
#
# SQLite has one write lock per database. A transaction begins deferred (plain BEGIN): it
# reads from a snapshot and blocks nobody, however long it stays open. A transaction
# that writes takes the write lock up front (BEGIN IMMEDIATE), so that two writers queue
# on the busy timeout. A deferred transaction that has read and then writes would
# instead try to upgrade its stale snapshot, and SQLite refuses that at once ("database
# is locked") whenever another writer got in between. So every writer says so before
# its first statement with ``begin_write()``; the reads it relies on then happen under
# the lock. A write that comes after reads in a deferred transaction is a bug: it runs
# (SQLite keeps it serialisable, failing instead of losing an update) with a
# ``ReadThenWriteWarning``, which the test suite turns into an error.
#
# PostgreSQL is unaffected: its writers lock rows and advisory keys where they need to.

WRITE_OPTION = "papelera_write"
_STATE = "papelera_transaction"
_WROTE = "papelera_wrote"  # this transaction has written (any engine)
_WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_SCHEMA_WORDS = ("CREATE", "DROP", "ALTER")
_CONTROL_WORDS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END")


class ReadThenWriteWarning(RuntimeWarning):
    """A write in a SQLite transaction that began deferred and has already read."""


class _Transaction:
    __slots__ = ("immediate", "has_read", "has_written")

    def __init__(self, immediate: bool) -> None:
        self.immediate = immediate
        self.has_read = False
        self.has_written = immediate


def _first_word(statement: str) -> str:
    return statement.lstrip(" \n\t(").split(None, 1)[0].upper() if statement.strip() else ""


def plain_session(session) -> Session:
    """The request's session (or the one given), unwrapped from its scoped registry."""
    session = db.session if session is None else session
    return session() if isinstance(session, scoped_session) else session


def begin_write(session=None) -> None:
    """Make the session's current transaction a write transaction (SQLite: the write lock).

    Call it before a writer's first statement, reads included: what it reads afterwards
    is read under the lock, so no other writer can change it before the write. A
    read-only transaction still open (a view that loaded what it checks) is ended first.
    Objects it loaded are NOT refreshed (the session keeps ``expire_on_commit=False``):
    a writer re-reads under the lock what it decides with, or writes conditionally
    (``WHERE version = :seen``), as every guarded write here does. Calling it inside a
    transaction that already writes changes nothing, so writers may nest. Refuses when
    ORM changes are pending in a read-only transaction: those were made from reads the
    lock did not protect. No-op on PostgreSQL.
    """
    session = plain_session(session)
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        state = session.connection().info.get(_STATE)
        if state is not None and state.has_written:
            return
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() must come before the changes it protects")
        session.commit()  # read-only: ending it loses nothing but a stale snapshot
    session.connection(execution_options={WRITE_OPTION: True})


def end_read(session=None) -> None:
    """End a read-only transaction now (after an auth lookup, between streamed pages).

    Read helpers call it so that no read snapshot stays open behind them. It never
    commits a write: inside a transaction that has written, it does nothing (the unit of
    work that began the write commits it, with its audit event). Objects loaded keep
    their values (``expire_on_commit=False``); reload what a decision depends on. Refuses
    when ORM changes are pending in a read-only transaction.
    """
    session = plain_session(session)
    if session.in_transaction() and session.connection().info.get(_WROTE):
        return
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("end_read() called with changes pending")
    session.commit()


def has_pending_writes(session=None) -> bool:
    """Whether the session's transaction has written, or holds ORM changes not yet
    flushed: work that only a unit of work's commit may end."""
    session = plain_session(session)
    if session.new or session.dirty or session.deleted:
        return True
    return session.in_transaction() and bool(session.connection().info.get(_WROTE))


def distinct_values(column, *, after=None, limit: int | None = None) -> list:
    """The distinct values of an indexed ``column``, in order, by a loose index scan: one
    index probe per value (``min(col) WHERE col > previous``), where ``SELECT DISTINCT``
    reads every row on PostgreSQL (which has no skip scan). ``after`` starts past a value;
    ``limit`` stops early. For columns with few values and many rows (audit actions,
    image owners)."""
    table, name = column.table.name, column.name
    start = f"WHERE {name} > :after" if after is not None else ""
    stop = "AND n < :limit" if limit is not None else ""
    statement = text(f"""
        WITH RECURSIVE walk(value, n) AS (
            SELECT (SELECT min({name}) FROM {table} {start}), 0
            UNION ALL
            SELECT (SELECT min({name}) FROM {table} WHERE {name} > walk.value), n + 1
            FROM walk WHERE walk.value IS NOT NULL {stop}
        )
        SELECT value FROM walk WHERE value IS NOT NULL""")  # names from the models only
    params = {k: v for k, v in (("after", after), ("limit", limit)) if v is not None}
    values = db.session.execute(statement, params).scalars().all()
    return values[:limit] if limit is not None else values


def configure_engine(engine: Engine) -> None:
    """SQLite: WAL, a busy timeout, deferred reads and writers that lock up front.

    pysqlite's own transaction handling is switched off (``isolation_level = None``) so
    that the ``begin`` hook decides: ``BEGIN IMMEDIATE`` for a connection procured with
    ``begin_write()``, a plain ``BEGIN`` otherwise. See the notes above ``begin_write``.
    """
    @event.listens_for(engine, "before_cursor_execute")
    def _note_writes(connection, _cursor, statement, _parameters, _context, _executemany):
        if not connection.info.get(_WROTE) and _first_word(statement) in _WRITE_WORDS:
            connection.info[_WROTE] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _forget_writes(connection):
        connection.info.pop(_WROTE, None)

    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = bool(connection.get_execution_options().get(WRITE_OPTION))
        connection.info[_STATE] = _Transaction(immediate)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection):
        connection.info.pop(_STATE, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(connection, _cursor, statement, _parameters, _context, _executemany):
        state = connection.info.get(_STATE)
        if state is None or state.has_written:
            return
        word = _first_word(statement)
        if word in _CONTROL_WORDS:
            return
        if word in _WRITE_WORDS and state.has_read:
            warnings.warn(
                "a write after reads in a deferred SQLite transaction: call "
                f"app.core.db.begin_write() before the writer reads ({statement[:60]!r})",
                ReadThenWriteWarning, stacklevel=2)
        if word in _WRITE_WORDS or word in _SCHEMA_WORDS:
            state.has_written = True
        else:
            state.has_read = True
