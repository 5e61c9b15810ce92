"""The release binary as a running `epoch serve` on a loopback port, a process's RSS, and the
checkout's short rev (what the binary serves as `rev`)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from harness.http import http_get
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
        self._command = (binary, args, {**os.environ, **(env or {})})
        # A port chosen here may be taken by someone else before the server binds it (free_port
        # closes its probe socket): wait_ready then starts again on another one.
        self._port_chosen_here = port is None
        self._start(port or free_port())

    def _start(self, port: int) -> None:
        binary, args, env = self._command
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"epoch-{self.port}.log"
        self.log = open(self.log_path, "w+b")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )

    def wait_ready(self, timeout: float = 30.0, attempts: int = 3) -> "EpochProcess":
        """Polls /readyz until it answers 200 and this process, alive, has logged that it listens on
        the port (so that another server that took the port is never taken for it); one deadline
        for every start. Fails at once, with the server's output, when the process exits first; if
        that was because the port it was given was taken meanwhile, starts again on another free
        port (at most `attempts` starts)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                output = self.output()
                taken = f"cannot serve on 127.0.0.1:{self.port}:" in output and "in use" in output
                if taken and self._port_chosen_here and attempts > 1:
                    self.log.close()
                    self._start(free_port())
                    attempts -= 1
                    continue
                raise AssertionError(f"epoch serve exited {self.process.returncode} before it was ready:\n"
                                     f"{output[-3000:]}")
            try:
                if (http_get(self.url + "/readyz", timeout=2)[0] == 200 and self._logged_listening()
                        and self.process.poll() is None):
                    return self
            except OSError:  # refused or reset while starting
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.url}/readyz did not answer 200 within {timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def _logged_listening(self) -> bool:
        """A log line (JSON or text) that says this process listens on its port."""
        port = re.compile(rf":{self.port}\b")
        return any("listening" in line and port.search(line) for line in self.output().splitlines())

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
