"""Shared fixtures: an app on SQLite + mongomock + local storage, clients, users, images."""

from __future__ import annotations

import io
import itertools
import os

import pytest
import sqlalchemy as sa
from PIL import Image as PILImage

from app import create_app
from app.core.db import utcnow
from app.core.extensions import db
from app.installation import check_at_start
from app.users.repository import get_users
from app.users.service import create_user
from tests.support.postgres import postgres_url, temporary_database

ADMIN_PASSWORD = "founder-password"
USER_PASSWORD = "user-password-1"
_counter = itertools.count()


def make_config(tmp_path, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-0123456789",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
        "MONGO_URI": f"mongomock://test-{next(_counter)}",
        "STORAGE_URL": f"file://{tmp_path / 'objects'}",
        "ADMIN_USERNAME": "founder",
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SCHEDULER_ENABLED": False,
        # Cheap hashes keep the suite fast; production uses argon2-cffi's defaults.
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_TIME_COST": 1,
    }
    config.update(overrides)
    return config


def drop_schema(url: str) -> None:
    """Drop every table at ``url``, before an app starts on it (a shared PostgreSQL)."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def instance_env(tmp_path) -> dict:
    """The environment with this test's own instance folder (os.environ is left alone)."""
    return {**os.environ, "PAPELERA_INSTANCE": str(tmp_path / "instance")}


def build_app(tmp_path, fresh_schema=False, **overrides):
    """An app as an operator gets it: start, schema created, then the first start's
    installation check (the ids are written once the tables exist)."""
    config = make_config(tmp_path, **overrides)
    if fresh_schema:
        drop_schema(config["SQLALCHEMY_DATABASE_URI"])
    app = create_app(config, env=instance_env(tmp_path))
    with app.app_context():
        db.create_all()
    check_at_start(app)
    return app


@pytest.fixture(scope="session")
def postgres_database():
    """One throwaway PostgreSQL database for the run (each test recreates the tables)."""
    base = postgres_url()
    if base is None:
        yield None
        return
    with temporary_database(base) as url:
        yield url


ENGINES = ["sqlite", "postgresql"]
NO_POSTGRES = ("PostgreSQL is not answering on 127.0.0.1:5432 and TEST_DATABASE_URL is "
               "not set")


@pytest.fixture
def pg_url():
    """A throwaway PostgreSQL database of this test's own, dropped afterwards."""
    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    with temporary_database(base) as url:
        yield url


@pytest.fixture(params=ENGINES)
def app(request, tmp_path, postgres_database):
    """The app on SQLite, then again on PostgreSQL (skipped, saying why, when absent)."""
    overrides = {}
    if request.param == "postgresql":
        if postgres_database is None:
            pytest.skip(NO_POSTGRES)
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def png_bytes(size=(32, 24), color=(200, 40, 40), fmt="PNG") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


class Api:
    """A bearer-token API client for one user."""

    def __init__(self, client, token, user):
        self.client, self.token, self.user = client, token, user

    def headers(self, extra=None):
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path, **kw):
        return self.client.get(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path, **kw):
        return self.client.post(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def patch(self, path, **kw):
        return self.client.patch(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, path, **kw):
        return self.client.delete(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def upload(self, data=None, name="photo.png"):
        return self.post("/api/v1/images",
                         data={"file": (io.BytesIO(png_bytes() if data is None else data), name)},
                         content_type="multipart/form-data")


def login_api(client, username, password) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


@pytest.fixture
def make_user(app):
    def make(username=None, role="user", password=USER_PASSWORD):
        username = username or f"user{next(_counter)}"
        with app.app_context():
            return create_user(get_users(), username=username, email=f"{username}@example.com",
                               password=password, role=role, now=utcnow())
    return make


@pytest.fixture
def api_for(app, client):
    def make(user, password=USER_PASSWORD):
        return Api(client, login_api(client, user.username, password), user)
    return make


@pytest.fixture
def admin_api(app, client):
    with app.app_context():
        founder = get_users().by_username("founder")
    return Api(client, login_api(client, "founder", ADMIN_PASSWORD), founder)


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def alice_api(api_for, alice):
    return api_for(alice)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One real S3 server (SeaweedFS) for the whole run; each test uses its own bucket."""
    from tests.support.seaweed import start_seaweedfs

    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweed"))
    except RuntimeError as exc:
        pytest.skip(f"SeaweedFS could not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3_app(tmp_path, seaweed, monkeypatch, postgres_database):
    """The app on PostgreSQL (SQLite when absent) and a fresh bucket on the real S3 server."""
    bucket = f"t{next(_counter)}-{os.getpid()}"
    seaweed.create_bucket(bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    overrides = {"STORAGE_URL": seaweed.storage_url(bucket)}
    if postgres_database:
        overrides["SQLALCHEMY_DATABASE_URI"] = postgres_database
    app = build_app(tmp_path, fresh_schema=True, **overrides)
    app.config["TEST_BUCKET"] = bucket
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
