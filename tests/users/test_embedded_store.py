"""Races on the embedded user store itself (litemongo on disk), never on mongomock.

mongomock shares one in-memory client between threads and cannot show these races;
litemongo gives each thread (and each process) its own client over the same files, as in
production. In each trial every caller is released at once (threads by a barrier, two
processes by a barrier between them) and then walks through the same list of races in
the same order, so each trial holds many races. Every race must end with exactly one
winner, or with every insert stored.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.audit.service import SYSTEM
from app.auth.passwords import verify_password
from app.core.db import utcnow
from app.core.errors import DomainError
from app.core.extensions import db
from app.users.deletion import start_user_deletion
from app.users.repository import get_users
from app.users.service import change_password, create_user, deactivate_user
from tests.conftest import USER_PASSWORD, build_app

THREADS = 8
PROCESSES = 2
THREADS_PER_PROCESS = 4
TRIALS = 3
WAIT = 60  # seconds a barrier or a result waits before the test fails instead of hanging


def embedded_app(tmp_path):
    return build_app(tmp_path, MONGO_URI=f"litemongo://{tmp_path / 'mongo'}")


@pytest.fixture
def app(tmp_path):
    app = embedded_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def new_user(users, username, role="user"):
    return create_user(users, username=username, email=f"{username}@example.com",
                       password=USER_PASSWORD, role=role, now=utcnow())


# -- the scenarios ----------------------------------------------------------------------------
# ``setup`` (in the test) makes the items of one trial; ``load`` (in each caller, before the
# start) reads what a request would have read first: the decorator's target, the signed-in
# user; ``act`` races on one item and returns something small and picklable (a domain
# error is recorded by its code); ``check`` (in the test) judges one item's race.

@dataclass
class Scenario:
    rounds: int  # races per trial
    setup: object
    act: object
    check: object
    load: object = staticmethod(lambda users, item: item)
    trials: int = TRIALS


def _user_ids(prefix):
    def setup(users, trial, rounds):
        return [new_user(users, f"{prefix}{trial}x{k}").id for k in range(rounds)]
    return setup


def _names(prefix):
    def setup(users, trial, rounds):
        return [f"{prefix}{trial}x{k}" for k in range(rounds)]
    return setup


def _load_user(users, user_id):
    return users.get(user_id)


def one_winner(outcomes, loser_code):
    """The winner's value; every other caller lost cleanly (False or ``loser_code``)."""
    winners = [value for kind, value in outcomes if kind == "ok" and value]
    losers = [value for kind, value in outcomes if not (kind == "ok" and value)]
    assert len(winners) == 1, f"{len(winners)} winners: {outcomes}"
    assert all(value in (False, loser_code) for value in losers), outcomes
    return winners[0]


def act_compare_and_set(users, user_id, tag):
    """The repository's guarded write: active → inactive, once."""
    return users.update(user_id, {"status": "active"},
                        {"status": "inactive", "deactivated_by": tag}) is not None


def check_compare_and_set(users, user_id, outcomes):
    one_winner(outcomes, None)
    assert users.get(user_id).version == 2, "several writes went through"


def act_insert_distinct(users, prefix, tag):
    username = f"{prefix}-{tag}"
    users.insert(username=username, email=f"{username}@example.com", password_hash="x",
                 role="user", is_founder=False, now=utcnow())
    return username


def check_insert_distinct(users, prefix, outcomes):
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    lost = [name for _, name in outcomes if users.by_username(name) is None]
    assert not lost, f"inserted but lost: {lost}"


def act_insert_same(users, username, tag):
    users.insert(username=username, email=f"{tag}-{username}@example.com", password_hash="x",
                 role="user", is_founder=False, now=utcnow())
    return tag


def check_insert_same(users, username, outcomes):
    one_winner(outcomes, "duplicate")
    assert users.collection.count_documents({"username_lower": username}) == 1


def act_take_deletion_lease(users, target, tag):
    return start_user_deletion(users, target, ctx=SYSTEM, now=utcnow())


def check_take_deletion_lease(users, user_id, outcomes):
    lease = one_winner(outcomes, "deleting")
    doc = users.get_doc(user_id)
    assert (doc["status"], doc["deletion_lease"]) == ("deleting", lease)


def act_change_password(users, user, tag):
    change_password(users, user, current=USER_PASSWORD, new=f"new-{tag}")
    return f"new-{tag}"


def check_change_password(users, user_id, outcomes):
    new = one_winner(outcomes, "conflict")
    user = users.get(user_id)
    assert verify_password(user.password_hash, new)
    assert (user.auth_epoch, user.version) == (1, 2)


def setup_last_two_admins(users, trial, rounds):
    """Exactly two active admins: a fresh pair, every other admin set inactive."""
    pair = [new_user(users, f"adm{trial}{n}", role="admin").id for n in "ab"]
    users.collection.update_many({"role": "admin", "_id": {"$nin": pair}},
                                 {"$set": {"status": "inactive"}})
    return [pair]


def act_deactivate_an_admin(users, admins, tag):
    """Callers split between the last two active admins: only one of them may go."""
    return deactivate_user(users, admins[int(tag.rsplit("-", 1)[1]) % 2],
                           actor_id="racer", now=utcnow()).id


def check_deactivate_an_admin(users, pair, outcomes):
    assert all(kind == "ok" or value == "last_admin" for kind, value in outcomes), outcomes
    gone = [user_id for user_id in pair if users.get(user_id).status == "inactive"]
    assert len(gone) == 1, f"{len(gone)} of the last two admins deactivated: {outcomes}"
    assert {value for kind, value in outcomes if kind == "ok"} == set(gone)
    assert users.count_active_admins() == 1


SCENARIOS = {
    "compare_and_set": Scenario(20, _user_ids("cas"), act_compare_and_set,
                                check_compare_and_set),
    "insert_distinct": Scenario(10, _names("many"), act_insert_distinct, check_insert_distinct),
    "insert_same": Scenario(20, _names("same"), act_insert_same, check_insert_same),
    "take_deletion_lease": Scenario(3, _user_ids("del"), act_take_deletion_lease,
                                    check_take_deletion_lease, _load_user),
    "change_password": Scenario(8, _user_ids("pwd"), act_change_password,
                                check_change_password, _load_user),
    "deactivate_an_admin": Scenario(1, setup_last_two_admins, act_deactivate_an_admin,
                                    check_deactivate_an_admin,
                                    lambda users, pair: [users.get(u) for u in pair],
                                    trials=2 * TRIALS),
}


# -- running a race -----------------------------------------------------------------------------

def race_in_threads(app, name, items, n, tag_prefix, release=None):
    """``n`` threads released together, each acting on every item in turn.

    Returns, per item, one (kind, value) per thread.
    """
    scenario = SCENARIOS[name]
    barrier = threading.Barrier(n, action=release, timeout=WAIT)
    outcomes = [[None] * n for _ in items]

    def run(i):
        with app.app_context():
            users = get_users()
            loaded = [scenario.load(users, item) for item in items]
            barrier.wait()
            for k, item in enumerate(loaded):
                try:
                    outcomes[k][i] = ("ok", scenario.act(users, item, f"{tag_prefix}{k}-{i}"))
                except DomainError as error:
                    outcomes[k][i] = ("refused", error.code)
                except Exception:
                    outcomes[k][i] = ("crashed", traceback.format_exc())
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return outcomes


def _worker_main(commands, results, barrier):
    """A second process: the same store and SQL database, its own clients and threads.

    It serves races until told to stop (None), so the module spawns it only once.
    """
    apps = {}
    while (command := commands.get()) is not None:
        tmp_path, name, trial, items = command
        try:
            if tmp_path not in apps:
                apps[tmp_path] = embedded_app(tmp_path)
            results.put((True, race_in_threads(
                apps[tmp_path], name, items, THREADS_PER_PROCESS, f"p{os.getpid()}-{trial}-",
                release=lambda: barrier.wait(WAIT))))
        except Exception:
            results.put((False, traceback.format_exc()))


@pytest.fixture(scope="module")
def workers():
    """PROCESSES spawned processes, each racing with THREADS_PER_PROCESS threads."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    queues = [context.Queue() for _ in range(PROCESSES)]
    processes = [context.Process(target=_worker_main, args=(queue, results, barrier))
                 for queue in queues]
    for process in processes:
        process.start()
    yield queues, results
    for queue in queues:
        queue.put(None)
    for process in processes:
        process.join(WAIT)
    assert all(process.exitcode == 0 for process in processes)


def race_in_processes(workers, tmp_path, name, trial, items):
    """One trial raced by every worker process at once; per item, every caller's outcome."""
    queues, results = workers
    for queue in queues:
        queue.put((tmp_path, name, trial, items))
    per_item = [[] for _ in items]
    for _ in range(PROCESSES):
        ok, answer = results.get(timeout=WAIT)
        assert ok, answer
        for k, outcomes in enumerate(answer):
            per_item[k].extend(outcomes)
    return per_item


@dataclass
class Tally:
    """Counts the races that broke, so a failure says how many, not only the first."""
    name: str
    races: int = 0
    broken: list = field(default_factory=list)

    def check(self, app, items, per_item):
        check = SCENARIOS[self.name].check
        with app.app_context():
            users = get_users()
            for item, outcomes in zip(items, per_item, strict=True):
                self.races += 1
                try:
                    check(users, item, outcomes)
                except AssertionError as error:
                    self.broken.append(str(error).splitlines()[0][:300])

    def assert_none_broken(self):
        assert not self.broken, (f"{self.name}: {len(self.broken)} of {self.races} races "
                                 f"broke; first: {self.broken[0]}")


def trials(app, name):
    scenario = SCENARIOS[name]
    for trial in range(scenario.trials):
        with app.app_context():
            yield trial, scenario.setup(get_users(), trial, scenario.rounds)


@pytest.mark.parametrize("name", SCENARIOS)
def test_threads_racing_on_the_embedded_store(app, name):
    tally = Tally(name)
    for trial, items in trials(app, name):
        tally.check(app, items, race_in_threads(app, name, items, THREADS, f"t{trial}-"))
    tally.assert_none_broken()


@pytest.mark.parametrize("name", SCENARIOS)
def test_two_processes_racing_on_the_embedded_store(app, tmp_path, workers, name):
    tally = Tally(name)
    for trial, items in trials(app, name):
        per_item = race_in_processes(workers, tmp_path, name, trial, items)
        assert all(len(outcomes) == PROCESSES * THREADS_PER_PROCESS for outcomes in per_item)
        tally.check(app, items, per_item)
    tally.assert_none_broken()


def test_queries_through_the_serialised_store_answer_as_before(app):
    """Cursors (find, sort, limit) are read under the lock and still answer in order."""
    with app.app_context():
        users = get_users()
        for name in ("carol", "alice", "bob", "dave"):
            new_user(users, name)
        assert [u.username for u in users.search(limit=2)] == ["alice", "bob"]
        assert [u.username for u in users.search(q="car")] == ["carol"]
        assert [u.username for u in users.search(after="carol")] == ["dave", "founder"]
        assert len(users.ids_in_status("active")) == 5 and users.count_active_admins() == 1


FORK_CHECK = """
import fcntl, os, sys
from app.users.mongo import MongoProvider

provider = MongoProvider("litemongo://" + sys.argv[1])
parent_database = provider.database()
parent_database["users"].insert_one({"_id": "parent"})
with provider.exclusive() as lock:  # held by the parent while it forks (gunicorn --preload)
    pid = os.fork()
    if pid == 0:
        # The parent's hold is not the child's, and closing the inherited descriptor did
        # not free the parent's flock.
        fd = os.open(lock.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os._exit(3)
        except BlockingIOError:
            os._exit(0 if lock._depth == 0 else 4)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
assert code == 0, code
pid = os.fork()  # the parent let go: the child takes the lock, with a client of its own
if pid == 0:
    with provider.exclusive():
        database = provider.database()
        database["users"].insert_one({"_id": "child"})
    os._exit(0 if database is not parent_database else 5)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
assert code == 0, code
assert {d["_id"] for d in parent_database["users"].find()} == {"parent", "child"}
"""


def test_a_forked_worker_starts_with_the_lock_free_and_its_own_client(tmp_path):
    """gunicorn forks workers from a master that may have used the store: a fresh
    interpreter (no other threads) forks while it holds the lock."""
    done = subprocess.run([sys.executable, "-c", FORK_CHECK, str(tmp_path / "mongo")],
                          capture_output=True, text=True, timeout=WAIT,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr


def test_a_store_lock_held_too_long_answers_busy_instead_of_hanging(tmp_path):
    """The last resort of issue 16 item 3: a waiter gives up (503 ``busy``) rather than
    waiting forever, in another thread and in another process alike."""
    from app.core.errors import ServiceUnavailable
    from app.users.mongo import StoreLock

    path = str(tmp_path / "papelera.lock")
    holder, waiter = StoreLock(path), StoreLock(path, timeout_s=0.2)
    held, release = threading.Event(), threading.Event()

    def hold():
        with holder:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(ServiceUnavailable) as refused:  # another lock object: the flock
            with waiter:
                pass
        assert refused.value.code == "busy"
        with pytest.raises(ServiceUnavailable):  # the same object: the thread lock
            same = holder
            same.timeout_s = 0.2
            with same:
                pass
    finally:
        release.set()
        thread.join(5)
    with waiter:  # free again: taken at once
        pass
