"""The one function that turns ``MONGO_URI`` into a pymongo-compatible database.

``mongodb://…`` → pymongo (thread-safe, one client per process),
``litemongo:///path`` → an on-disk store (one client per thread: it is not thread-safe),
``mongomock://`` → in memory, for tests.
Clients are created lazily inside the process that uses them, never at import time,
so forked gunicorn workers each get their own.

The embedded store (litemongo) has no transactions: each call reads and filters in Python,
then writes, so two clients (threads or processes) could both win one guarded
``find_one_and_update``, or lose an insert. Every call the app makes on it therefore runs
under one lock per store: a lock per process for the threads, and an OS file lock
(``flock`` on ``<store>/papelera.lock``) for the processes. ``exclusive()`` holds the same
lock across several calls; on MongoDB and mongomock it is a no-op.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import time
import weakref
from urllib.parse import urlparse

import mongomock
import pymongo
from flask_babel import gettext
from pymongo import uri_parser

from app.core.errors import ServiceUnavailable

DATABASE = "papelera"
LOCK_FILE = "papelera.lock"  # in the store's folder, beside the database folders
LOCK_TIMEOUT_S = 20.0  # the longest a request waits for the embedded store's lock


class StoreLock:
    """Reentrant, exclusive across the threads of a process and across processes.

    A thread lock admits one thread of this process; the outermost holder then takes
    ``flock`` on the lock file and gives it back, closing the file, when it leaves. A
    process that dies drops its flock.

    Waiting is bounded by ``timeout_s``: past it the request answers 503 ``busy`` instead
    of hanging. A last resort only: the lock order (``app.core.uow``) keeps every holder
    short, and no holder waits for SQL.
    """

    def __init__(self, path: str, timeout_s: float = LOCK_TIMEOUT_S):
        self.path, self.timeout_s = path, timeout_s
        self._reset()
        _LIVE_LOCKS.add(self)

    def _reset(self) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def _after_fork_in_child(self) -> None:
        # The child has only the forking thread: a parent's holder must not block it, and
        # an inherited descriptor is closed without LOCK_UN (that would free the parent's).
        if self._fd is not None:
            os.close(self._fd)
        self._reset()

    def __enter__(self) -> StoreLock:
        deadline = time.monotonic() + self.timeout_s
        if not self._thread_lock.acquire(timeout=self.timeout_s):
            raise _busy()
        try:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    _flock_until(fd, deadline)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                fd, self._fd = self._fd, None
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
        finally:
            self._thread_lock.release()


def _flock_until(fd: int, deadline: float) -> None:
    """``flock(LOCK_EX)``, given up at ``deadline``: tried at once, then every few ms."""
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _busy() from None
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable(gettext("The user store is busy right now. Try again in a "
                                      "moment."), code="busy", headers={"Retry-After": "5"})


_LIVE_LOCKS: weakref.WeakSet[StoreLock] = weakref.WeakSet()
_LOCKS: dict[str, StoreLock] = {}
_LOCKS_GUARD = threading.Lock()


def _reset_locks_in_child() -> None:
    global _LOCKS_GUARD
    _LOCKS_GUARD = threading.Lock()
    for lock in list(_LIVE_LOCKS):
        lock._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_locks_in_child)


def store_lock(folder: str) -> StoreLock:
    """The one lock of the store in ``folder`` for this process."""
    path = os.path.join(os.path.realpath(folder), LOCK_FILE)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(path)
        if lock is None:
            lock = _LOCKS[path] = StoreLock(path)
        return lock


@functools.cache
def _serialised_types() -> tuple[type, ...]:
    """litemongo's database, collection and cursor classes (a vendored mongomock)."""
    from litemongo._vendor.mongomock import Collection, Database
    from litemongo._vendor.mongomock.collection import Cursor
    from litemongo._vendor.mongomock.command_cursor import CommandCursor

    return Database, Collection, Cursor, CommandCursor


class Serialised:
    """A litemongo database, collection or cursor whose every call holds the store lock.

    What a call returns is wrapped again when it is one of those objects, so
    ``db["users"].find(q).sort(k).limit(n)`` stays under the lock, and a cursor (which
    litemongo only evaluates when it is first read) is read in full under the lock.
    """

    __slots__ = ("_target", "_lock", "_children")

    def __init__(self, target, lock: StoreLock):
        self._target, self._lock = target, lock
        self._children: dict = {}  # a database's collections, wrapped once

    def __getattr__(self, name):
        if isinstance(self._target, _serialised_types()[0]):
            with self._lock:  # ``db.users`` opens a collection, as ``db["users"]`` does
                attr = getattr(self._target, name)
        else:
            attr = getattr(self._target, name)  # a bound method or a value: no I/O yet
        if isinstance(attr, _serialised_types()) or not callable(attr):
            return _wrap(attr, self._lock)
        lock = self._lock

        def call(*args, **kwargs):
            with lock:
                return _wrap(attr(*args, **kwargs), lock)

        return call

    def __getitem__(self, key):
        child = self._children.get(key)
        if child is None:
            with self._lock:  # opening a collection creates its SQLite file
                child = self._children[key] = _wrap(self._target[key], self._lock)
        return child

    def __iter__(self):
        with self._lock:
            return iter(list(self._target))

    def __next__(self):
        with self._lock:
            return next(self._target)

    def __repr__(self) -> str:
        return f"Serialised({self._target!r})"


def _wrap(value, lock: StoreLock):
    return Serialised(value, lock) if isinstance(value, _serialised_types()) else value


class MongoProvider:
    def __init__(self, uri: str):
        self.uri = uri
        self.scheme = urlparse(uri).scheme
        self._local = threading.local()
        self._shared = None
        self._pid = None
        self._lock = threading.Lock()
        self._store_lock = None
        if self.scheme == "litemongo":
            self._folder = urlparse(uri).path
            self._store_lock = store_lock(self._folder)

    def _new_client(self):
        if self.scheme in ("mongodb", "mongodb+srv"):
            options = {"tz_aware": True, "uuidRepresentation": "standard"}
            if "serverselectiontimeoutms" not in self.uri.lower():
                options["serverSelectionTimeoutMS"] = 3000  # fail fast: answer 503, not hang
            return pymongo.MongoClient(self.uri, **options)
        if self.scheme == "mongomock":
            return mongomock.MongoClient(tz_aware=True)
        import litemongo

        return litemongo.connect(self._folder, tz_aware=True)

    def database(self):
        if self.scheme == "litemongo":
            return self._embedded_database()
        with self._lock:
            if self._shared is None or self._pid != os.getpid():
                self._shared, self._pid = self._new_client(), os.getpid()
        name = None
        if self.scheme.startswith("mongodb"):
            name = uri_parser.parse_uri(self.uri).get("database")
        return self._shared[name or DATABASE]

    def _embedded_database(self) -> Serialised:
        # One client per thread (its SQLite connections refuse other threads), made again
        # in a forked child: a connection must not cross a fork.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            os.makedirs(self._folder, exist_ok=True)  # where the lock file lives, too
            with self._store_lock:
                client = self._new_client()
                local.database = Serialised(client[DATABASE], self._store_lock)
            local.pid = os.getpid()
        return local.database

    def exclusive(self):
        """Hold the store for several calls (the embedded store only; a no-op elsewhere)."""
        if self._store_lock is None:
            return contextlib.nullcontext()
        self._embedded_database()  # the store's folder exists from here on
        return self._store_lock

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def ping(self) -> None:
        self.database().command("ping")
