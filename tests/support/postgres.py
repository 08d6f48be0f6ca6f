"""PostgreSQL for tests: find a server, and give each test run a throwaway database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)


def _libpq_url(url: str) -> str:
    """`url` as psycopg takes it (SQLAlchemy's `postgresql+psycopg://` is accepted too)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_url() -> str | None:
    """A URL of a PostgreSQL server to create test databases on, or None.

    `TEST_DATABASE_URL` wins when set; otherwise a trust-auth server on 127.0.0.1:5432.
    """
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    for url in _CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url
        except psycopg.Error:
            continue
    return None


@contextmanager
def temporary_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, then drop it."""
    name = f"papelera_test_{secrets.token_hex(6)}"
    admin_url = _libpq_url(base_url)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            make_url(base_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
