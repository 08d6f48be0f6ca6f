"""Resume and range edges with real clients against a live server (issue 18 item 5).

``make run`` (gunicorn) serves; curl ``-C -``, ``wget -c`` and ``aria2c`` (one connection
resuming, and four in parallel) fetch a 3 MB original from a cut copy, from the server
cache and streamed from storage, and the SHA-256 must match. curl also checks the edges
RFC 9110 sets: one 416 form, unknown units and several ranges ignored, If-Match first.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image as PILImage

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer

CUT = 1_234_567


def noise_png() -> bytes:
    """About 3.6 MB that does not compress: large enough to resume, under 5 MiB (cached)."""
    out = io.BytesIO()
    PILImage.frombytes("RGB", (1200, 1000), os.urandom(1200 * 1000 * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the server, the owner's headers, a share-link URL, the original's bytes)."""
    with AppServer(tmp_path_factory.mktemp("http-clients")) as server:
        token = requests.post(f"{server.url}/api/v1/auth/token", timeout=10, json={
            "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).json()["token"]
        owner = {"Authorization": f"Bearer {token}"}
        data = noise_png()
        image = requests.post(f"{server.url}/api/v1/images", headers=owner, timeout=60,
                              files={"file": ("noise.png", io.BytesIO(data), "image/png")})
        assert image.status_code == 201, image.text
        link = requests.post(f"{server.url}/api/v1/images/{image.json()['id']}/share",
                             headers=owner, json={"ttl_s": 3600}, timeout=10).json()["url"]
        parts = urlsplit(link)
        yield server, owner, f"{server.url}{parts.path}?{parts.query}", data


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/test-deps.sh installs it)")
    return path


def run(*command: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def set_cache(server, owner, max_bytes: int) -> None:
    response = requests.patch(f"{server.url}/api/v1/admin/media/config", headers=owner,
                              json={"cache_max_bytes": max_bytes}, timeout=10)
    assert response.status_code == 200, response.text


RESUMERS = {
    "curl -C -": lambda path, url: ["curl", "-sS", "-f", "-C", "-", "-o", str(path), url],
    "wget -c": lambda path, url: ["wget", "-q", "-c", "-O", str(path), url],
    "aria2c -c": lambda path, url: ["aria2c", "-q", "-c", "--file-allocation=none",
                                    "-d", str(path.parent), "-o", path.name, url],
    "aria2c -x4 -s4": lambda path, url: ["aria2c", "-q", "-c", "-x4", "-s4", "-k1M",
                                         "--file-allocation=none", "-d", str(path.parent),
                                         "-o", path.name, url],
}


@pytest.mark.parametrize("streamed", [False, True], ids=["cached", "streamed"])
@pytest.mark.parametrize("client", list(RESUMERS))
def test_a_cut_download_resumes_to_the_same_bytes(served, tmp_path, client, streamed):
    server, owner, url, data = served
    tool(RESUMERS[client](tmp_path, url)[0])
    set_cache(server, owner, 0 if streamed else 5 * 1024 * 1024)
    target = tmp_path / "noise.png"
    target.write_bytes(data[:CUT])
    done = run(*RESUMERS[client](target, url))
    assert done.returncode == 0, (client, done.stdout, done.stderr)
    assert sha(target.read_bytes()) == sha(data)
    # A finished file asked again: curl and wget say so and keep it as it is.
    if client in ("curl -C -", "wget -c"):
        again = run(*RESUMERS[client](target, url))
        assert sha(target.read_bytes()) == sha(data), (client, again.stderr)


def curl_head(*args: str) -> tuple[int, dict, int]:
    """(status, headers, body size) of one curl request."""
    done = run(tool("curl"), "-sS", "-o", os.devnull, "-D", "-", "-w", "%{size_download}",
               *args)
    head, _, size = done.stdout.rpartition("\n\n")  # text mode: CRLF read as LF
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, int(size)


@pytest.mark.parametrize("streamed", [False, True], ids=["cached", "streamed"])
def test_range_edges_with_curl(served, streamed):
    server, owner, url, data = served
    set_cache(server, owner, 0 if streamed else 5 * 1024 * 1024)
    status, headers, _ = curl_head("-H", f"Range: bytes={len(data)}-", url)
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(data)}"
    assert headers["cache-control"] == "no-store"
    for header in ("Range: items=0-1", "Range: bytes=0-9,20-29"):
        status, headers, size = curl_head("-H", header, url)
        assert (status, size) == (200, len(data)), header
    status, headers, size = curl_head("-H", "Range: bytes=10-19", url)
    assert (status, size, headers["content-range"]) == (206, 10, f"bytes 10-19/{len(data)}")
    etag = headers["etag"]
    status, _, size = curl_head("-H", "Range: bytes=0-9", "-H", f"If-Range: W/{etag}", url)
    assert (status, size) == (200, len(data))
    status, headers, size = curl_head("-H", 'If-Match: "nope"', "-H", "Range: bytes=0-9", url)
    assert (status, size) == (412, 0)
    status, headers, size = curl_head("-H", f"If-None-Match: {etag}", url)
    assert (status, size) == (304, 0)
    assert "sandbox" in headers["content-security-policy"]
    assert headers["cache-control"].startswith("public, max-age=")
    assert "s-maxage=60" in headers["cache-control"]
    assert not any(name.startswith("ratelimit") for name in headers)
