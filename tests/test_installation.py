"""``flask installation show|adopt`` and the other operator commands around the ids."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from app.audit.models import AuditEvent
from app.core.extensions import db
from app.installation import Installation, installation_status
from app.users.repository import get_users
from tests.conftest import build_app


@pytest.fixture
def library(tmp_path):
    (tmp_path / "a").mkdir()
    app = build_app(tmp_path / "a", fresh_schema=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def slipped(library, tmp_path):
    """The same database on a new, empty user store."""
    (tmp_path / "b").mkdir()
    app = build_app(tmp_path / "b", SQLALCHEMY_DATABASE_URI=library.config[
        "SQLALCHEMY_DATABASE_URI"], STORAGE_URL=library.config["STORAGE_URL"])
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def ids(app):
    with app.app_context():
        status = installation_status()
    return status.sql_id, status.store_id, status.state


def test_a_new_install_gets_one_id_on_both_sides(library):
    sql_id, store_id, state = ids(library)
    assert sql_id and sql_id == store_id and state == "ok"
    result = library.test_cli_runner().invoke(args=["installation", "show"])
    assert result.exit_code == 0 and f"database:   {sql_id}" in result.output
    assert "status:     ok" in result.output


def test_show_and_readyz_name_a_store_without_the_id(library, slipped):
    result = slipped.test_cli_runner().invoke(args=["installation", "show"])
    assert result.exit_code == 1 and "user store: (none)" in result.output
    assert "is MONGO_URI set?" in result.output
    ready = slipped.test_client().get("/readyz").get_json()
    assert "is MONGO_URI set?" in ready["checks"]["installation"]["error"]


def test_a_database_without_the_id_next_to_a_store_with_it_is_a_mismatch(library):
    with library.app_context():
        db.session.execute(delete(Installation))
        db.session.commit()
    response = library.test_client().get("/readyz")
    assert response.status_code == 503
    assert "is DATABASE_URL set?" in response.get_json()["checks"]["installation"]["error"]


def test_commands_that_destroy_or_bootstrap_refuse_a_mismatch(library, slipped):
    runner = slipped.test_cli_runner()
    bootstrap = runner.invoke(args=["users", "bootstrap"])
    assert "not creating the first admin" in bootstrap.output
    with slipped.app_context():
        assert not get_users().has_admin()
    doctor = runner.invoke(args=["doctor", "--fix"])
    assert doctor.exit_code != 0 and "installation" in doctor.output
    assert runner.invoke(args=["doctor"]).exit_code == 0  # looking is fine


def test_adopt_asks_then_writes_the_database_id_into_the_store(library, slipped):
    sql_id, _, _ = ids(library)
    runner = slipped.test_cli_runner()
    declined = runner.invoke(args=["installation", "adopt"], input="n\n")
    assert declined.exit_code != 0 and ids(slipped)[2] == "mismatch"
    adopted = runner.invoke(args=["installation", "adopt"], input="y\n")
    assert adopted.exit_code == 0, adopted.output
    assert f"wrote the database's installation id {sql_id} into the user store" in adopted.output
    assert ids(slipped) == (sql_id, sql_id, "ok")
    with slipped.app_context():
        event = db.session.execute(select(AuditEvent).where(
            AuditEvent.action == "installation_adopt")).scalar_one()
        assert event.details["store_before"] is None and event.target_id == sql_id
    # The founder can be created now.
    assert runner.invoke(args=["users", "bootstrap"]).exit_code == 0
    with slipped.app_context():
        assert get_users().has_admin()


def test_adopt_new_writes_a_new_id_into_both(library):
    old, _, _ = ids(library)
    result = library.test_cli_runner().invoke(args=["installation", "adopt", "--new", "--yes"])
    assert result.exit_code == 0 and "a new installation id" in result.output
    sql_id, store_id, state = ids(library)
    assert state == "ok" and sql_id == store_id != old



def test_readyz_writes_no_installation_id(library):
    """N11: /readyz is a public GET: it reads both ids and writes neither."""
    with library.app_context():
        db.session.execute(delete(Installation))
        db.session.commit()
        library.extensions["papelera.mongo"].database()["meta"].delete_many({})
        assert installation_status().state == "new"
    ready = library.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ids(library) == (None, None, "new")
