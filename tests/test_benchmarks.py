"""``make bench`` never touches a database it did not create."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scratch import refuse_if_not_empty
from tests.purge.conftest import EXPIRED, add_images, image_rows
from tests.support.seaweed import find_weed

ROOT = Path(__file__).resolve().parents[1]


def test_a_database_with_rows_is_refused(app, make_user):
    add_images(app, make_user().id, 1, EXPIRED)
    with pytest.raises(SystemExit, match="already has"):
        refuse_if_not_empty(app.config["SQLALCHEMY_DATABASE_URI"])


@pytest.mark.s3
def test_the_purge_benchmark_ignores_database_url(app, make_user):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("one engine is enough: the benchmark never opens DATABASE_URL")
    try:
        find_weed()
    except RuntimeError as exc:
        pytest.skip(f"SeaweedFS is not installed: {exc}")
    ids = add_images(app, make_user().id, 4, EXPIRED)
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
    done = subprocess.run([sys.executable, "benchmarks/purge.py", "--n", "5", "--naive-n", "3",
                           "--threads", "2"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"n": 5' in done.stdout
    assert set(image_rows(app)) == set(ids)  # every expired row of the real database is there


def test_the_scale_benchmark_prints_every_op_at_both_sizes():
    """``benchmarks/scale.py`` end to end on small libraries (SQLite): its last line is the
    JSON the issue fixes, every op measured at both sizes, the bulk operations timed."""
    from benchmarks.scale import BULK, OPS

    done = subprocess.run([sys.executable, "benchmarks/scale.py", "--rows", "2000",
                           "--small", "1000", "--runs", "2", "--engines", "sqlite"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"sqlite"}
    engine = result["sqlite"]
    assert set(engine["ops"]) == set(OPS)
    for name, op in engine["ops"].items():
        assert set(op) == {"small_ms", "large_ms", "growth"}, name
        assert op["small_ms"] > 0 and op["large_ms"] > 0, name
        assert op["growth"] == pytest.approx(op["large_ms"] / op["small_ms"], rel=0.05), name
    assert engine["worst"] in OPS and engine["worst"] != "control_healthz"
    assert engine["max_growth"] == engine["ops"][engine["worst"]]["growth"]
    assert set(engine["bulk"]) == set(BULK)
    assert all(isinstance(engine["bulk"][k], int | float) for k in BULK)
    assert engine["rows"] == {"small": 1000, "large": 2000}


def test_a_failed_op_fails_the_scale_run():
    from benchmarks.scale import Failed, Instance

    class Client:
        def open(self, path, method, headers, **kw):
            class Answer:
                status_code = 500

                def get_data(self):
                    return b"boom"
            return Answer()

    with pytest.raises(Failed, match="answered 500"):
        Instance("sqlite", 10, app=None, client=Client()).request("GET", "/", "token")


@pytest.mark.parametrize("case", ["hit", "revalidate", "hit_share"])
def test_the_instruction_count_harness_answers_each_case_as_it_names_it(case):
    """``benchmarks/instructions.py``'s child (what runs under valgrind) sets up its own
    instance, makes the requests the case names and exits non-zero unless every one
    answered as the case says (200, or 304 for ``revalidate``): a 401 counted as a cheap
    hit would flatter the count."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "benchmarks/instructions.py", "--child", case, "3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
