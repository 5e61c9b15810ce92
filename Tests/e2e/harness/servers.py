"""The release binary as a running `epoch serve` on a loopback port, a process's RSS, and the
checkout's short rev (what the binary serves as `rev`)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from harness.http import wait_for_http
from harness.paths import REPO_ROOT
from harness.ports import free_port


def git_short_rev() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def rss_kib(pid: int) -> int:
    """VmRSS of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


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
