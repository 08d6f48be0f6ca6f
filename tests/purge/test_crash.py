"""Kill a real ``flask purge`` process (SIGKILL) at several points, then run it again.

Each run pauses at a named point (``PAPELERA_PURGE_PAUSE_AT``, see
``app.purge.service.checkpoint``), writes a marker file, and is killed there. After every
kill: no object is left without its row, and every row not being purged still has its
objects. After the last, clean run: everything due is gone, everything else intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.core.extensions import db
from app.purge.models import PurgeRun
from app.users.repository import get_users
from app.users.service import create_user
from tests.conftest import ADMIN_PASSWORD, build_app
from tests.purge.conftest import (
    ACTIVE,
    EXPIRED,
    TRASHED,
    add_images,
    assert_consistent,
    image_rows,
    stored_keys,
)

ROOT = Path(__file__).resolve().parents[2]
# Where each run is killed, in order, on one data set (a point:n is its n-th hit).
KILL_POINTS = ["claimed:2", "objects_deleted:1", "objects_deleted:2", "rows_deleted:1",
               "run_started", "run_finished"]


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_app(request, tmp_path, postgres_database):
    if request.param == "postgresql":
        if postgres_database is None:
            pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432 and "
                        "TEST_DATABASE_URL is not set")
        database = postgres_database
    else:
        database = f"sqlite:///{tmp_path / 'crash.db'}"
    settings = {
        "SQLALCHEMY_DATABASE_URI": database,
        # On disk, so the killed processes and this one see the same users and objects.
        "MONGO_URI": f"litemongo://{tmp_path / 'mongo'}",
        "STORAGE_URL": f"file://{tmp_path / 'objects'}",
    }
    instance = tmp_path / "instance"
    instance.mkdir()
    lines = [f"{key} = {value!r}" for key, value in settings.items()]
    lines += ["SECRET_KEY = 'crash-test-secret-key-0123'", "SCHEDULER_ENABLED = False",
              "ADMIN_USERNAME = 'founder'", f"ADMIN_PASSWORD = {ADMIN_PASSWORD!r}",
              "ARGON2_MEMORY_KIB = 1024", "ARGON2_TIME_COST = 1",
              "PURGE_LEASE_TTL_S = 1"]  # a killed holder's lease lapses quickly
    (instance / "config.py").write_text("\n".join(lines) + "\n")
    app = build_app(tmp_path, fresh_schema=True, **settings)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def start_purge(tmp_path, pause_at: str | None) -> tuple[subprocess.Popen, Path]:
    marker = tmp_path / "paused"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "PAPELERA_INSTANCE": str(tmp_path / "instance"),
           "PAPELERA_PURGE_PAUSE_FILE": str(marker)}
    env.pop("PAPELERA_PURGE_PAUSE_AT", None)
    if pause_at:
        env["PAPELERA_PURGE_PAUSE_AT"] = pause_at
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "purge", "--batch-size", "5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, marker


def run_until(tmp_path, pause_at: str | None) -> str:
    """Run ``flask purge``; kill it at ``pause_at``, or let it finish. Returns its output.

    The lease of the run killed before lapses after a second: a start refused with
    "already running" is simply tried again.
    """
    deadline = time.monotonic() + 60
    while True:
        process, marker = start_purge(tmp_path, pause_at)
        while not marker.exists() and process.poll() is None:
            time.sleep(0.02)
        if marker.exists():
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            process.stdout.close()
            return f"killed at {pause_at}"
        output = process.stdout.read().decode()
        process.stdout.close()
        if "already running" in output and time.monotonic() < deadline:
            time.sleep(0.3)
            continue
        assert process.returncode == 0, output
        assert pause_at is None, f"the run never reached {pause_at}:\n{output}"
        return output


def test_killed_runs_leave_nothing_the_next_run_does_not_finish(crash_app, tmp_path):
    app = crash_app
    with app.app_context():
        owner = create_user(get_users(), username="crashy", email="crashy@example.com",
                            password="crash-password-1", now=utcnow())
    expired = add_images(app, owner.id, 23, EXPIRED)
    kept = add_images(app, owner.id, 3, TRASHED) + add_images(app, owner.id, 3, ACTIVE)
    for point in KILL_POINTS:
        run_until(tmp_path, point)
        assert_consistent(app)
        rows = image_rows(app)
        assert set(kept) <= set(rows), f"a row not due was deleted (killed at {point})"
    output = run_until(tmp_path, None)
    assert "0 remaining" in output
    rows = image_rows(app)
    assert set(rows) == set(kept)
    assert not set(expired) & set(rows)
    assert all(row.purge_state is None for row in rows.values())
    expected_keys = {k for row in rows.values() for k in (row.storage_key, row.thumbnail_key)}
    assert stored_keys(app) == expected_keys
    with app.app_context():
        statuses = db.session.execute(select(PurgeRun.status).order_by(PurgeRun.id)).scalars()
        statuses = list(statuses)
    assert statuses[-1] == "finished"
    assert set(statuses[:-1]) == {"interrupted"}
