"""gunicorn settings for `make run` and the container (SPEC section 2).

Without ``REDIS_URL`` Papelera keeps rate-limit counters, caches and metrics in process
memory, so it runs ONE worker with threads: every request sees the same counters. With
``REDIS_URL`` those live in Redis and several workers may run (``WEB_CONCURRENCY``,
default two per core). Every worker starts its own purge scheduler; the SQL lease lets
one purge run at a time (app/purge/scheduler.py).

Environment: ``HOST`` / ``PORT`` (default 127.0.0.1:5000), ``REDIS_URL``,
``WEB_CONCURRENCY`` (workers, only with ``REDIS_URL``), ``GUNICORN_THREADS`` (threads per
worker, default 8 for a lone worker, 4 otherwise).
"""

import os
import sys


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        sys.exit(f"{name} must be a whole number of at least 1, not {raw!r}")
    return value


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


shared_state = bool(os.environ.get("REDIS_URL", "").strip())

wsgi_app = "app:create_app()"
bind = [f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '5000'}"]
worker_class = "gthread"
if shared_state:
    workers = _int("WEB_CONCURRENCY", 2 * _cores())
    threads = _int("GUNICORN_THREADS", 4)
else:
    if _int("WEB_CONCURRENCY", 1) > 1:
        print("gunicorn.conf.py: WEB_CONCURRENCY is ignored without REDIS_URL: one worker "
              "keeps in-process limits and counters exact", file=sys.stderr)
    workers = 1
    threads = _int("GUNICORN_THREADS", 8)

# No app preloading: each worker builds its own app, database pool, Mongo client and
# scheduler after the fork (PyMongo clients and threads do not survive a fork).
preload_app = False
# A purge over HTTP answers within PURGE_TIME_BUDGET_S (20 s); gthread workers keep
# beating while a request runs, so this only catches a worker that hangs.
timeout = 60
# SIGTERM: finish the requests in flight, then stop (tests and `docker stop` wait 10 s).
graceful_timeout = 8
keepalive = 5
# The app writes its own JSON access lines with the request id; gunicorn's go to stderr.
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn's control socket lives in $HOME: servers side by side (tests, benchmarks)
# would share it, and the container's home is read-only. Nothing here uses it.
control_socket_disable = True
