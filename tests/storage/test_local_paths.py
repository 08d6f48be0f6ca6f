"""Local storage keys: checked without a system call per key (scale review F11), and still
unable to leave the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.storage import LocalStorage

ESCAPES = ["../outside", "originals/../../outside", "a/../../x", "/etc/passwd", "", ".",
           "../objects-sibling/f", "originals/../../objects-sibling/f"]


@pytest.fixture
def local(tmp_path):
    real = tmp_path / "real-objects"
    real.mkdir()
    (tmp_path / "objects").symlink_to(real)  # the root reached through a symlink
    (tmp_path / "objects-sibling").mkdir()
    return LocalStorage(tmp_path / "objects")


@pytest.mark.parametrize("key", ESCAPES)
def test_no_key_leaves_the_root(local, key, tmp_path):
    with pytest.raises(KeyError):
        local.put(key, b"x", "image/png")
    with pytest.raises(KeyError):
        local.open(key)
    assert not local.exists(key)
    assert key in local.delete_many([key])
    assert not (tmp_path / "outside").exists()
    assert list((tmp_path / "objects-sibling").iterdir()) == []


def test_keys_land_under_the_resolved_root(local, tmp_path):
    local.put("originals/a/../b", b"hello", "image/png")
    assert (tmp_path / "real-objects" / "originals" / "b").read_bytes() == b"hello"
    assert local.exists("originals/b")
    assert list(local.iter_keys()) == ["originals/b"]
    assert local.delete_many(["originals/b"]) == {}
    assert not local.exists("originals/b")


def test_a_key_costs_no_system_call(local, monkeypatch):
    """The root is resolved once; a key's path is worked out lexically."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a system call to resolve a key")

    monkeypatch.setattr(os.path, "realpath", refuse)
    monkeypatch.setattr(Path, "resolve", refuse)
    for n in range(100):
        assert local._path(f"originals/2026/12/{n:032x}").name == f"{n:032x}"
    with pytest.raises(KeyError):
        local._path("../x")


def test_listing_holds_one_folder_at_a_time(tmp_path):
    """Keys come in order, prefix-filtered, without the whole store in memory (a sorted
    rglob held every path: +1 GB for flask doctor at 2,000,000 objects)."""
    import tracemalloc

    store = LocalStorage(tmp_path / "objects")
    for month in range(40):
        folder = tmp_path / "objects" / "originals" / f"2026-{month:02d}"
        folder.mkdir(parents=True)
        for n in range(250):
            (folder / f"{n:05d}").write_bytes(b"")
    (tmp_path / "objects" / "thumbnails").mkdir()
    (tmp_path / "objects" / "thumbnails" / "t").write_bytes(b"")
    (tmp_path / "objects" / "originals" / ".upload-x").write_bytes(b"")
    tracemalloc.start()
    try:
        count, last = 0, ""
        for key, _modified in store.iter_objects("originals/"):
            assert key > last
            count, last = count + 1, key
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40 * 250
    assert peak < 1_000_000, peak
    assert list(store.iter_keys("thumbnails/")) == ["thumbnails/t"]
    assert list(store.iter_keys("originals/2026-03/0000"))[:2] == [
        "originals/2026-03/00000", "originals/2026-03/00001"]
