"""``flask doctor``: rows and objects reconciled, both ways."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.core.extensions import db
from app.images.doctor import examine
from app.images.models import Image
from tests.helpers import image_row, object_files


def test_doctor_finds_and_repairs_orphans_both_ways(app, alice_api, tmp_path):
    healthy = alice_api.upload().get_json()["id"]
    broken = alice_api.upload().get_json()["id"]
    # An upload that crashed after writing its object, and an object lost outside Papelera.
    (tmp_path / "objects" / "originals" / "crashed").write_bytes(b"left behind")
    lost = image_row(app, broken)
    (tmp_path / "objects" / lost.storage_key).unlink()

    runner = app.test_cli_runner()
    report = runner.invoke(args=["doctor", "--min-age-minutes", "0"])
    assert report.exit_code == 1
    assert "orphan object (no row): originals/crashed" in report.output
    assert f"row without its objects: {broken}" in report.output

    young = runner.invoke(args=["doctor"])  # an object younger than an hour is left alone
    assert "originals/crashed" not in young.output

    fixed = runner.invoke(args=["doctor", "--fix", "--min-age-minutes", "0"])
    assert fixed.exit_code == 0, fixed.output
    assert "repaired: 1 object(s) and 1 row(s) deleted" in fixed.output
    assert image_row(app, broken) is None
    assert image_row(app, healthy) is not None
    assert "originals/crashed" not in object_files(tmp_path)
    assert lost.thumbnail_key not in object_files(tmp_path)
    again = runner.invoke(args=["doctor", "--min-age-minutes", "0"])
    assert again.exit_code == 0 and "everything matches" in again.output
    with app.app_context():
        assert db.session.query(Image).count() == 1


class _ListingOnly:
    """A store that only lists: ``count`` fresh keys under originals/."""

    def __init__(self, count):
        self.count = count

    def iter_objects(self, prefix=""):
        moment = utcnow()
        if prefix == "originals/":
            for n in range(self.count):
                yield f"originals/2026/12/{n:032x}.jpg", moment


def test_the_listing_is_compared_in_sql_not_held_in_memory(app):
    """100,000 keys listed: Python's own memory stays at a few MB (the old dict and set
    of every key grew with the store: 1.78 GB at 1M images). Python's memory does not
    depend on the engine: SQLite alone."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the engine does not matter here")
    with app.app_context():
        tracemalloc.start()
        try:
            report = examine(_ListingOnly(100_000), now=utcnow(), min_age=timedelta(hours=1))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.objects == 100_000 and report.healthy
    assert peak < 10 * 2**20, f"{peak / 2**20:.1f} MiB"
