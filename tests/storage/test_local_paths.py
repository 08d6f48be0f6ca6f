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
