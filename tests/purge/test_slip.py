"""The configuration slip of issue 8: the same SQL and objects, a fresh user store.

A deploy that forgets ``MONGO_URI`` starts on an empty embedded store, and a founder
gets bootstrapped into it. Every other owner then looks gone. Nothing may change: the
installation ids disagree, so the purge, the API and ``readyz`` refuse or say why; and
even after a (mistaken) ``flask installation adopt`` the orphan sweep's circuit breaker
stops the run, and ``--allow-mass-sweep`` only moves images to the trash.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from app.audit.models import AuditEvent
from app.core.db import utcnow
from app.core.extensions import db
from app.installation import Installation, check_at_start
from app.purge.models import PurgeRun
from app.users.repository import get_users
from app.users.service import create_user
from tests.conftest import ADMIN_PASSWORD, NO_POSTGRES, build_app, login_api
from tests.purge.conftest import ACTIVE, TRASHED, add_images, image_rows, stored_keys

CONFIRM = {"X-Confirm-Delete": "yes"}


@pytest.fixture(params=["sqlite+files", "postgresql+seaweedfs"])
def library(request, tmp_path):
    """A library in use: two users with images in every state, on the real stores."""
    if request.param == "sqlite+files":
        (tmp_path / "a").mkdir()
        app = build_app(tmp_path / "a", fresh_schema=True)
    else:
        app = request.getfixturevalue("s3_app")
        if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            pytest.skip(NO_POSTGRES)
    with app.app_context():
        owners = [create_user(get_users(), username=name, email=f"{name}@example.com",
                              password="owner-password-1", now=utcnow())
                  for name in ("ana", "ben")]
    for owner in owners:
        add_images(app, owner.id, 3, ACTIVE)
        add_images(app, owner.id, 2, TRASHED)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def slipped(tmp_path):
    """Start the same SQL and objects on a new (empty) user store: MONGO_URI forgotten."""
    started = []

    def start(app):
        (tmp_path / "slip").mkdir()
        second = build_app(tmp_path / "slip", SQLALCHEMY_DATABASE_URI=app.config[
            "SQLALCHEMY_DATABASE_URI"], STORAGE_URL=app.config["STORAGE_URL"])
        started.append(second)
        return second

    yield start
    for app in started:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def founder_in(app):
    """A founder, as a bootstrap into the empty store would have made."""
    with app.app_context():
        return create_user(get_users(), username="founder", email="founder@example.com",
                           password=ADMIN_PASSWORD, role="admin", now=utcnow())


def state(app) -> tuple[dict, set]:
    rows = {image_id: (row.is_deleted, row.deleted_at, row.purge_after, row.purge_state,
                       row.version) for image_id, row in image_rows(app).items()}
    return rows, stored_keys(app)


def test_the_slip_changes_no_image(library, slipped):
    before = state(library)
    app = slipped(library)
    with app.app_context():
        assert get_users().all_ids() == set()  # no founder papered over the empty store
    founder_in(app)

    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code != 0
    assert "Nothing was purged" in result.output and "MONGO_URI" in result.output

    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    installation = ready.get_json()["checks"]["installation"]
    assert installation["status"] == "down" and "user store" in installation["error"]

    token = login_api(client, "founder", ADMIN_PASSWORD)
    for path in ("/api/v1/admin/purge", "/api/v1/trash",
                 f"/api/v1/users/{'ab' * 16}?permanent=true&force=true"):
        response = client.delete(path, headers={"Authorization": f"Bearer {token}",
                                                **CONFIRM})
        assert response.status_code == 409, path
        assert response.get_json()["code"] == "installation_mismatch"
    assert state(library) == before


def test_an_install_from_before_the_ids_is_not_adopted_by_a_wrong_store(library, slipped):
    with library.app_context():  # as if the installation table had just been migrated
        db.session.execute(delete(Installation))
        db.session.commit()
    before = state(library)
    app = slipped(library)
    founder_in(app)
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code != 0 and "does not know 2 owner(s)" in result.output
    assert state(library) == before


def test_an_install_from_before_the_ids_adopts_its_own_store_at_start(library):
    with library.app_context():  # neither side has an id yet: the upgrade's first start
        db.session.execute(delete(Installation))
        db.session.commit()
        library.extensions["papelera.mongo"].database()["meta"].delete_many({})
    status = check_at_start(library)
    assert status.ok and status.sql_id == status.store_id
    result = library.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output


def test_after_a_wrong_adopt_the_circuit_breaker_holds_the_sweep(library, slipped):
    before = state(library)
    app = slipped(library)
    founder_in(app)
    runner = app.test_cli_runner()
    adopted = runner.invoke(args=["installation", "adopt", "--yes"])
    assert adopted.exit_code == 0 and "Adopted" in adopted.output

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "stopped" in result.output and "PURGE_MAX_SWEEP_SHARE" in result.output
    assert state(library) == before
    with app.app_context():
        refused = db.session.execute(select(AuditEvent).where(
            AuditEvent.action == "orphan_sweep")).scalars().all()
        assert [e.outcome for e in refused] == ["refused"]
        assert refused[0].details["unknown_owners"] == 2
        run = db.session.execute(select(PurgeRun)).scalar_one()
        assert run.status == "stopped" and "PURGE_MAX_SWEEP_SHARE" in run.error_messages[-1]

    result = runner.invoke(args=["purge", "--allow-mass-sweep"])
    assert result.exit_code == 0, result.output
    rows, keys = state(library)
    assert set(rows) == set(before[0]) and keys == before[1]  # nothing deleted
    retention = timedelta(days=app.config["TRASH_RETENTION_DAYS"])
    for image_id, (is_deleted, deleted_at, purge_after, purge_state, _) in rows.items():
        assert is_deleted and purge_state is None
        if not before[0][image_id][0]:  # was active: into the trash, the normal retention
            assert purge_after - deleted_at == retention
        else:  # was in the trash already: keeps its own date
            assert purge_after == before[0][image_id][2]
