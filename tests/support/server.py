"""The app as a real process, started the way `make run` starts it.

`AppServer` picks a free port, sets up a throwaway instance folder, runs `make run`
(migrations, then gunicorn with gunicorn.conf.py; `target="dev"` for `make dev`) in a
process group of its own, waits for `/healthz`, and stops the whole group again
(SIGTERM: gunicorn finishes the requests in flight and exits). `flask(...)` runs any
other CLI command against the same instance. Output goes to a log file in the instance's
parent folder, shown on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
FLASK = VENV_BIN / "flask"
STAMP = ROOT / ".venv" / ".installed"
ADMIN_USERNAME = "founder"
ADMIN_PASSWORD = "founder-password"

# Settings a developer's shell may carry that would point the app elsewhere.
_INHERITED = ("DATABASE_URL", "MONGO_URI", "STORAGE_URL", "STORAGE_PUBLIC_URL", "REDIS_URL",
              "SECRET_KEY", "PAPELERA_ENV", "FLASK_DEBUG", "FLASK_APP", "FLASK_RUN_PORT",
              "FLASK_RUN_HOST", "TRUSTED_PROXIES", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
              "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """A Papelera process on 127.0.0.1 with its own instance folder under `workdir`."""

    def __init__(self, workdir: Path, target: str = "run", **settings: str) -> None:
        self.workdir = Path(workdir)
        self.target = target
        self.instance = self.workdir / "instance"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen | None = None
        self.killed = False  # True when SIGTERM was not enough and stop() sent SIGKILL
        self._log = None
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
        env.update({
            "PAPELERA_INSTANCE": str(self.instance),
            "ADMIN_USERNAME": ADMIN_USERNAME,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SCHEDULER_ENABLED": "false",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            # Cheap password hashes keep sign-ins fast; the cost is a setting.
            "ARGON2_MEMORY_KIB": "1024",
            "ARGON2_TIME_COST": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(settings)
        self.env = env

    def command(self) -> list[str]:
        """`make run`, told never to rebuild the venv stamp (no pip install in a test)."""
        make = shutil.which("make")
        if make and STAMP.exists():
            return [make, "--no-print-directory", "-o", str(STAMP.relative_to(ROOT)),
                    self.target]
        # No make: the same two steps the target runs (HOST and PORT are in the env).
        serve = (f"'{VENV_BIN / 'gunicorn'}' --config gunicorn.conf.py" if self.target == "run"
                 else f"'{FLASK}' --app app run --debug --host 127.0.0.1 --port {self.port}")
        return ["sh", "-c", f"'{FLASK}' --app app db upgrade && exec {serve}"]

    def start(self, timeout: float = 60.0) -> AppServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        with requests.Session() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the server exited with {self.process.returncode}:\n"
                                       f"{self.log_tail()}")
                try:
                    with http.get(f"{self.url}/healthz", timeout=1) as response:
                        if response.status_code == 200:
                            return self
                except (requests.ConnectionError, requests.Timeout):
                    pass  # not listening yet, or gunicorn's worker is still loading the app
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"no answer on {self.url}/healthz after {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the process group (make and its flask child), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                self._signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.killed = True
                    self._signal_group(process, signal.SIGKILL)
                    process.wait(timeout=10)
            # make may be gone while flask still runs: make sure the group is empty.
            self._signal_group(process, signal.SIGKILL)
            self.process = process  # keep returncode readable
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def flask(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run `flask --app app <args>` against this server's instance."""
        return subprocess.run([str(FLASK), "--app", "app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def serve(cls, tmp_path_factory, name: str):
        """For a module-scoped fixture: ``yield from AppServer.serve(factory, "name")``."""
        with cls(tmp_path_factory.mktemp(name)) as server:
            yield server

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
