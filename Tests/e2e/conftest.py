"""Shared fixtures for the end-to-end tests: the real release binary, free loopback ports, and
processes that are always stopped, whatever the test did."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EPOCH_JSON_RE = re.compile(
    r'^\{"host":"[^"]+","type":"epoch","data":[0-9]{10},"unit":"sec","rev":"[0-9a-f]{7,}"\}$'
)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """GET without raising on 4xx/5xx: (status, lower-cased headers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def wait_for_http(url: str, timeout: float = 30.0, status: int = 200) -> bytes:
    """Polls `url` until it answers `status`; returns the body. Fails the test on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, _, body = http_get(url, timeout=2)
            if code == status:
                return body
            last = code
        except (OSError, urllib.error.URLError) as error:
            last = error
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer {status} within {timeout}s (last: {last})")


def git_short_rev() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


class EpochProcess:
    """A running `epoch serve` on a loopback port; `stop()` drains it with SIGTERM."""

    def __init__(self, binary: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"epoch-{self.port}.log"
        self.log = open(self.log_path, "w+b")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 30.0) -> "EpochProcess":
        wait_for_http(self.url + "/readyz", timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def release_binary() -> Path:
    """The static release binary `make release` built (make targets depend on it); EPOCH_BINARY
    points the tests at another build, e.g. the debug one while iterating."""
    binary = Path(os.environ.get("EPOCH_BINARY", REPO_ROOT / ".build" / "release" / "epoch"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make release` (make's test targets do)")
    return binary


@pytest.fixture
def epoch_server(release_binary):
    """Starts servers on demand and always stops them: `epoch_server("--shutdown-delay", "1s")`."""
    started: list[EpochProcess] = []

    def start(*args: str, **kwargs) -> EpochProcess:
        server = EpochProcess(release_binary, *args, **kwargs)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


def parse_json(body: bytes) -> dict:
    return json.loads(body.decode())
