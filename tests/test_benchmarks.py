"""``make bench`` never touches a database it did not create."""

from __future__ import annotations

import os
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
