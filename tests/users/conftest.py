"""Fixtures for the users package: an app context, the repository, a founder's browser."""

from __future__ import annotations

import pytest

from app.core.extensions import db
from app.users.repository import get_users
from tests.conftest import ADMIN_PASSWORD, build_app
from tests.helpers import Browser


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def users(ctx):
    return get_users()


@pytest.fixture
def founder(users):
    return users.by_username("founder")


@pytest.fixture
def founder_browser(app):
    return Browser(app.test_client(), "founder", ADMIN_PASSWORD)


@pytest.fixture
def sqlite_app(tmp_path):
    """For tests where the SQL engine does not matter (Mongo rules, page markup)."""
    app = build_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
