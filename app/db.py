"""SQL helpers shared by every model: UTC times and engine-specific set-up."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator


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


def configure_engine(engine: Engine) -> None:
    """SQLite: WAL, a busy timeout, and transactions that take the write lock up front.

    pysqlite's own transaction handling begins lazily, so two writers that both read
    first fail with "database is locked" instead of waiting. ``BEGIN IMMEDIATE`` makes
    the second writer wait for the busy timeout, which is what serialises audit writers
    and purge claims on SQLite (SPEC section 3).
    """
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
        connection.exec_driver_sql("BEGIN IMMEDIATE")
