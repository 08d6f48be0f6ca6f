"""Throwaway stores for the benchmarks: they never touch a database they did not create.

``DATABASE_URL`` is ignored on purpose: a developer with it exported would otherwise
see the benchmark purge a real database. PostgreSQL comes from ``TEST_DATABASE_URL`` or
the local trust server (tests/support/postgres.py), as a database created for the run
and dropped afterwards; SQLite is a file in the run's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tests.support.postgres import postgres_url, temporary_database


@contextmanager
def scratch_database(kind: str, tmp: Path) -> Iterator[str]:
    """A new, empty database of ``kind`` (sqlite or postgresql); its URL."""
    if kind == "sqlite":
        path = tmp / "bench.db"
        if path.exists():
            raise SystemExit(f"refusing to use {path}: it already exists")
        yield f"sqlite:///{path}"
        return
    base = postgres_url()
    if base is None:
        raise SystemExit("no PostgreSQL: start it on 127.0.0.1:5432 or set TEST_DATABASE_URL "
                         "(DATABASE_URL is never used by the benchmarks)")
    with temporary_database(base) as url:
        yield url


def refuse_if_not_empty(url: str) -> None:
    """Stop unless every table at ``url`` is empty: a benchmark only fills its own."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            for table in sa.inspect(connection).get_table_names():
                if table == "alembic_version":
                    continue
                rows = connection.execute(
                    sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
                if rows:
                    raise SystemExit(f"refusing to benchmark: table {table} already has "
                                     f"{rows} row(s); the benchmarks only use databases "
                                     "they create")
    finally:
        engine.dispose()
