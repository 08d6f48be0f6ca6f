"""Faults between requests: the database drops every connection."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import Api, login_api


@pytest.mark.parametrize("app", ["postgresql"], indirect=True)  # a PostgreSQL fault
def test_app_recovers_after_postgresql_drops_its_connections(app, client):
    api = Api(client, login_api(client, "founder", "founder-password"), None)
    assert api.upload().status_code == 201
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    # What a server restart does to a pool: every open connection is cut.
    with psycopg.connect(admin, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)).fetchone()[0]
    assert killed >= 1
    # pool_pre_ping notices the dead connections: the next requests simply work.
    assert api.get("/api/v1/images").status_code == 200
    assert api.upload().status_code == 201
    assert client.get("/readyz").status_code == 200
