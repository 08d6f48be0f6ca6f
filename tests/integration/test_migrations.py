"""Alembic migrations: the same schema on SQLite and PostgreSQL, and no row lost on the way."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.core.extensions import db
from tests.conftest import instance_env, make_config

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")


def migrated_app(tmp_path, url, revision="head"):
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url, BOOTSTRAP_ADMIN=False),
                     env=instance_env(tmp_path))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=revision)
    return app


def describe(app) -> dict:
    """Tables, their columns (name, nullability) and indexes, engine-neutral."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        schema = {}
        for table in sorted(inspector.get_table_names()):
            if table == "alembic_version":
                continue
            columns = {(c["name"], c["nullable"]) for c in inspector.get_columns(table)}
            # PostgreSQL also lists the index behind each unique constraint; compare those
            # as constraints only.
            indexes = {(i["name"], tuple(i["column_names"]), bool(i["unique"]))
                       for i in inspector.get_indexes(table) if not i.get("duplicates_constraint")}
            uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
            schema[table] = {"columns": columns, "indexes": indexes, "uniques": uniques}
        db.engine.dispose()
        return schema


def test_sqlite_and_postgresql_get_the_same_schema(tmp_path, pg_url):
    sqlite = describe(migrated_app(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}"))
    postgres = describe(migrated_app(tmp_path / "b", pg_url))
    assert set(sqlite) == set(postgres)
    for table in sqlite:
        assert sqlite[table]["columns"] == postgres[table]["columns"], table
        assert sqlite[table]["indexes"] == postgres[table]["indexes"], table
        assert sqlite[table]["uniques"] == postgres[table]["uniques"], table
    assert {"images", "audit_events", "api_tokens"} <= set(sqlite)


def test_migrations_match_the_models(tmp_path):
    """What the migrations build is what the models declare (no forgotten migration)."""
    migrated = describe(migrated_app(tmp_path / "m", f"sqlite:///{tmp_path / 'm.db'}"))
    app = create_app(make_config(tmp_path / "c", SQLALCHEMY_DATABASE_URI=
                                 f"sqlite:///{tmp_path / 'c.db'}", BOOTSTRAP_ADMIN=False),
                     env=instance_env(tmp_path / "c"))
    with app.app_context():
        db.create_all()
    created = describe(app)
    assert set(migrated) == set(created)
    for table in created:
        assert migrated[table]["columns"] == created[table]["columns"], table
        assert {i[1:] for i in migrated[table]["indexes"]} == {
            i[1:] for i in created[table]["indexes"]}, table


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_from_the_first_migration_keeps_every_row(tmp_path, engine, request):
    url = (request.getfixturevalue("pg_url") if engine == "postgresql"
           else f"sqlite:///{tmp_path / 'up.db'}")
    app = migrated_app(tmp_path, url, revision="0001")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    image_ids = [uuid.uuid4() for _ in range(3)]
    with app.app_context():
        images = sa.Table("images", sa.MetaData(), autoload_with=db.engine)
        with db.engine.begin() as conn:
            for n, image_id in enumerate(image_ids):
                conn.execute(images.insert().values(
                    id=image_id.hex, owner_id="owner", file_name=f"f{n}.png",
                    storage_key=f"originals/{n}", thumbnail_key=f"thumbnails/{n}",
                    content_type="image/png", size_bytes=10, thumbnail_bytes=5, width=1,
                    height=1, sha256="0" * 64, created_at=now, is_deleted=n == 2,
                    deleted_at=now if n == 2 else None, version=1))
        upgrade(directory=MIGRATIONS, revision="head")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT file_name, is_deleted FROM images "
                                        "ORDER BY file_name")).all()
        db.engine.dispose()
    assert [(r[0], bool(r[1])) for r in rows] == [("f0.png", False), ("f1.png", False),
                                                  ("f2.png", True)]
