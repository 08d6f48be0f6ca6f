"""Uploads cannot exhaust memory: pixel limit, decoders, bounded decodes, no full-size copies.

The last two tests start the real server (`make run`, whichever server it runs) and
upload eight large PNGs at once from eight threads while a background thread samples the
resident memory of the server's whole process group.
"""

from __future__ import annotations

import io
import struct
import threading
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest
import requests
from PIL import Image as PILImage

from app.core.config import ConfigError, load_settings
from app.images.processing import decode_slots_for
from tests.conftest import NO_POSTGRES, png_bytes
from tests.helpers import object_files
from tests.support.postgres import postgres_url, temporary_database
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

MB = 1024 * 1024
RSS_GROWTH_LIMIT = 600 * MB
UPLOADERS = 8


def jpeg_bytes(size, orientation=None) -> bytes:
    out = io.BytesIO()
    exif = PILImage.Exif()
    if orientation:
        exif[0x0112] = orientation
    PILImage.new("RGB", size, (30, 90, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


# -- In process ---------------------------------------------------------------------------

def test_upload_waits_for_a_decode_slot_then_answers_503_busy(app, alice_api, tmp_path):
    app.config.update(MAX_CONCURRENT_DECODES=1, DECODE_WAIT_S=0)
    slots = decode_slots_for(app)
    slots.acquire()  # another upload is decoding
    try:
        response = alice_api.upload(png_bytes())
        assert response.status_code == 503
        assert response.get_json()["code"] == "busy"
        assert response.headers["Retry-After"] == "1"
        assert object_files(tmp_path) == set()
        # Refused from the header alone: no slot needed, no wait.
        app.config["MAX_IMAGE_PIXELS"] = 100
        response = alice_api.upload(png_bytes(size=(20, 20)))
        assert response.status_code == 413
        assert response.get_json()["code"] == "too_large"
        app.config["MAX_IMAGE_PIXELS"] = 24_000_000
    finally:
        slots.release()
    assert alice_api.upload(png_bytes()).status_code == 201


def test_a_failed_decode_gives_its_slot_back(app, alice_api):
    app.config.update(MAX_CONCURRENT_DECODES=1, DECODE_WAIT_S=0)
    truncated = jpeg_bytes((1600, 1200))[:-4000]
    for _ in range(3):
        response = alice_api.upload(truncated, name="cut.jpg")
        assert response.status_code == 415  # decoded at reduced scale, still every byte
        assert response.get_json()["code"] == "not_an_image"
    assert alice_api.upload(png_bytes()).status_code == 201


def test_only_the_four_served_decoders_read_the_bytes(alice_api, tmp_path):
    # A BMP header announcing 100,000 × 100,000 pixels: Pillow's BMP opener would parse it
    # (and call it a decompression bomb); with formats= no opener but ours looks at it.
    header = b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 100_000, 100_000, 1, 24, 0, 0, 0, 0, 0, 0)
    response = alice_api.upload(header + b"\x00" * 64, name="huge.bmp")
    assert response.status_code == 415
    assert response.get_json()["code"] == "not_an_image"
    assert object_files(tmp_path) == set()


@pytest.mark.parametrize("size", [(800, 600), (4000, 3000)])
def test_thumbnail_of_a_rotated_jpeg_is_upright(app, alice_api, tmp_path, size):
    # EXIF orientation 6 (camera held upright): stored as landscape, shown as portrait.
    response = alice_api.upload(jpeg_bytes(size, orientation=6), name="upright.jpg")
    assert response.status_code == 201
    body = response.get_json()
    assert (body["width"], body["height"]) == size  # the original, as stored
    thumbnails = [p for p in object_files(tmp_path) if p.startswith("thumbnails/")]
    with PILImage.open(tmp_path / "objects" / thumbnails[0]) as thumb:
        assert thumb.size == (360, 480)
        assert thumb.getpixel((180, 240))[2] > 150  # the picture, not a blank frame


@pytest.mark.parametrize("name,value", [("MAX_CONCURRENT_DECODES", "0"),
                                        ("MAX_CONCURRENT_DECODES", "two"),
                                        ("DECODE_WAIT_S", "-1")])
def test_decode_settings_are_validated(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({"PAPELERA_INSTANCE": str(tmp_path), name: value})


# -- The real server under eight simultaneous uploads -----------------------------------

def group_processes(root_pid: int) -> list[psutil.Process]:
    root = psutil.Process(root_pid)
    return [root, *root.children(recursive=True)]


def group_rss(root_pid: int) -> int:
    total = 0
    for process in group_processes(root_pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class PeakRss:
    """Samples the group's RSS in a thread; on Linux also reads each process's own peak
    (VmHWM, reset at start), whose sum bounds the group's peak from above even if a
    sample misses the top."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = group_rss(root_pid)
        self._hwm_ok = all(self._reset_hwm(p) for p in group_processes(root_pid))

    @staticmethod
    def _reset_hwm(process: psutil.Process) -> bool:
        try:
            Path(f"/proc/{process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _hwm(process: psutil.Process) -> int:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM line")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, group_rss(self.root_pid))
            self._stop.wait(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._hwm_ok:
            self.peak = max(self.peak, sum(self._hwm(p) for p in group_processes(self.root_pid)))

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """Defaults everywhere (pixel limit, decode slots) except a long wait for a slot: this
    test is about memory, and a busy shared machine must not turn it into a 503.

    On PostgreSQL requests run side by side whatever SQLite's locking does, so the eight
    uploads really do reach the decoder together."""
    workdir = tmp_path_factory.mktemp(f"upload-memory-{request.param}")
    with ExitStack() as stack:
        settings = {"DECODE_WAIT_S": "300"}
        if request.param == "postgresql":
            base = postgres_url()
            if base is None:
                pytest.skip(NO_POSTGRES)
            settings["DATABASE_URL"] = stack.enter_context(temporary_database(base))
        yield stack.enter_context(AppServer(workdir, **settings))


@pytest.fixture(scope="module")
def token(server):
    response = requests.post(f"{server.url}/api/v1/auth/token", timeout=30,
                             json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    # Warm up on a small image (imports, encoders, first writes), never on a large one.
    warm = upload(server, token, png_bytes())
    assert warm.status_code == 201, warm.text
    return token


def upload(server, token, data: bytes) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/images", timeout=600,
                         headers={"Authorization": f"Bearer {token}"},
                         files={"file": ("big.png", data, "image/png")})


def upload_at_once(server, token, data: bytes) -> tuple[list[requests.Response], PeakRss]:
    barrier = threading.Barrier(UPLOADERS)
    responses: list = [None] * UPLOADERS

    def run(i: int) -> None:
        barrier.wait()
        try:
            responses[i] = upload(server, token, data)
        except Exception as exc:  # noqa: BLE001  (reported below, with the server's log)
            responses[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(UPLOADERS)]
    with PeakRss(server.process.pid) as rss:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    failed = [r for r in responses if not isinstance(r, requests.Response)]
    assert not failed, f"{failed}\n{server.log_tail()}"
    return responses, rss


def big_png(side: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (side, side), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


def test_eight_7000px_pngs_at_once_are_refused_before_decoding(server, token):
    data = big_png(7000)  # 49 MP: over the 24 MP default; ~160 KB on the wire
    responses, rss = upload_at_once(server, token, data)
    assert [r.status_code for r in responses] == [413] * UPLOADERS, server.log_tail()
    assert {r.json()["code"] for r in responses} == {"too_large"}
    assert "7000×7000" in responses[0].json()["error"]
    assert rss.growth < RSS_GROWTH_LIMIT, f"peak RSS grew by {rss.growth / MB:.0f} MB"


def test_eight_23_megapixel_pngs_at_once_decode_within_the_bound(server, token):
    data = big_png(4800)  # 23 MP: under the default limit, ~92 MB each once decoded
    responses, rss = upload_at_once(server, token, data)
    assert [r.status_code for r in responses] == [201] * UPLOADERS, (
        [r.text for r in responses], server.log_tail())
    assert {(r.json()["width"], r.json()["height"]) for r in responses} == {(4800, 4800)}
    assert rss.growth < RSS_GROWTH_LIMIT, f"peak RSS grew by {rss.growth / MB:.0f} MB"
