"""Start-up guards: no mixed embedded/external stores in production, no secret in a
configuration error or in ``/readyz``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.core.config import ConfigError, load_settings
from app.core.extensions import db
from tests.conftest import instance_env, make_config

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "hunter2-secret"
PG = f"postgresql://papelera:{PASSWORD}@db.internal:5432/papelera"
MONGO = f"mongodb://papelera:{PASSWORD}@mongo.internal:27017/papelera"
S3 = "s3://bucket?endpoint_url=http://s3.internal:8333"


def production(tmp_path, **env) -> dict:
    return {"PAPELERA_INSTANCE": str(tmp_path), "PAPELERA_ENV": "production",
            "SECRET_KEY": "production-secret-key-0123", **env}


@pytest.mark.parametrize("env,named", [
    ({"DATABASE_URL": PG}, ["MONGO_URI", "STORAGE_URL"]),  # the forgotten MONGO_URI
    ({"DATABASE_URL": PG, "MONGO_URI": MONGO}, ["STORAGE_URL"]),
    ({"DATABASE_URL": PG, "STORAGE_URL": S3}, ["MONGO_URI"]),
    ({"MONGO_URI": MONGO, "STORAGE_URL": S3}, ["DATABASE_URL"]),  # the forgotten DATABASE_URL
])
def test_production_refuses_mixed_stores_naming_them(tmp_path, env, named):
    with pytest.raises(ConfigError) as raised:
        load_settings(production(tmp_path, **env))
    message = str(raised.value)
    for name in named:
        assert f"{name} is embedded" in message or f"{name} is external" in message
    assert "ALLOW_MIXED_STORES" in message and PASSWORD not in message


def test_mixed_stores_start_when_explicitly_allowed_or_outside_production(tmp_path):
    allowed = load_settings(production(tmp_path, DATABASE_URL=PG, ALLOW_MIXED_STORES="true"))
    assert allowed["ALLOW_MIXED_STORES"] is True
    development = load_settings({"PAPELERA_INSTANCE": str(tmp_path), "DATABASE_URL": PG})
    assert development["MONGO_URI"].startswith("litemongo://")


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": PG, "MONGO_URI": MONGO, "STORAGE_URL": S3}])
def test_production_starts_with_all_embedded_or_all_external(tmp_path, env):
    assert load_settings(production(tmp_path, **env))["PAPELERA_ENV"] == "production"


def test_a_mixed_production_start_stops_the_cli_with_one_line(tmp_path):
    env = {**os.environ, **production(tmp_path, DATABASE_URL=PG)}
    for name in ("MONGO_URI", "STORAGE_URL", "ALLOW_MIXED_STORES"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "installation", "show"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "configuration error" in done.stderr and "MONGO_URI is embedded" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


@pytest.mark.parametrize("name,value", [
    ("DATABASE_URL", f"mysql://root:{PASSWORD}@db.internal/papelera"),
    ("MONGO_URI", f"redis://root:{PASSWORD}@mongo.internal/0"),
    ("STORAGE_URL", f"s3://?secret_key={PASSWORD}"),
    ("REDIS_URL", f"http://user:{PASSWORD}@redis.internal"),
])
def test_configuration_errors_mask_credentials(tmp_path, name, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({"PAPELERA_INSTANCE": str(tmp_path), name: value})
    assert name in str(raised.value) and PASSWORD not in str(raised.value)
    assert "***" in str(raised.value)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "a tenth"])
def test_the_sweep_share_is_a_number_between_0_and_1(tmp_path, value):
    with pytest.raises(ConfigError, match="PURGE_MAX_SWEEP_SHARE"):
        load_settings({"PAPELERA_INSTANCE": str(tmp_path), "PURGE_MAX_SWEEP_SHARE": value})
    settings = load_settings({"PAPELERA_INSTANCE": str(tmp_path), "PURGE_MAX_SWEEP_SHARE": "0.2"})
    assert settings["PURGE_MAX_SWEEP_SHARE"] == 0.2
    assert load_settings({"PAPELERA_INSTANCE": str(tmp_path)})["PURGE_MAX_SWEEP_SHARE"] == 0.05


def test_readyz_gives_a_short_reason_without_hosts_or_users(tmp_path):
    app = create_app(make_config(
        tmp_path, BOOTSTRAP_ADMIN=False,
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://secretuser:{PASSWORD}@127.0.0.1:1/db",
        MONGO_URI="mongodb://secretuser:pw@127.0.0.1:1/papelera?serverSelectionTimeoutMS=200"),
        env=instance_env(tmp_path))
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["database"] == {"status": "down", "error": "unreachable (OperationalError)"}
        assert checks["users"]["error"].startswith("unreachable (")
        assert checks["installation"]["status"] == "down"
        for secret in ("secretuser", PASSWORD, "127.0.0.1"):
            assert secret not in response.get_data(as_text=True)
    finally:
        app.extensions["papelera.mongo"].close()
        with app.app_context():
            db.engine.dispose()
