"""A real nginx on 127.0.0.1 in front of `epoch serve` instances, rendered from
deploy/nginx/rollout.conf.template (ingress-nginx's upstream defaults); `set_upstreams()` rewrites
the endpoint list and reloads it, as an endpoint removal does."""
from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from harness.commands import log
from harness.http import http_get
from harness.paths import REPO_ROOT
from harness.ports import free_port

NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "rollout.conf.template"


class Nginx:
    """nginx in the foreground (daemon off) under its own prefix directory, on a loopback port."""

    def __init__(self, prefix: Path, upstreams: list[int], port: int | None = None, binary: str = "nginx"):
        self.prefix = prefix
        self.port = port or free_port()
        self.binary = binary
        self.url = f"http://127.0.0.1:{self.port}"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        # Worker processes of a root master run as `nobody` unless told otherwise; the test's files
        # belong to the caller, so keep the caller's user (the directive is ignored when not root).
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = NGINX_TEMPLATE.read_text()
        for key, value in {"PREFIX": str(prefix), "PORT": str(self.port), "USER": user}.items():
            conf = conf.replace(f"@@{key}@@", value)
        if "@@" in conf:
            raise ValueError(f"unrendered placeholder in {NGINX_TEMPLATE}")
        self.conf_path = prefix / "nginx.conf"
        self.conf_path.write_text(conf)
        self.upstreams: list[int] = []
        self._write_upstreams(upstreams)
        self.test_config()
        self.log_file = open(prefix / "nginx.stderr", "w+b")
        log(f"nginx: starting on {self.url} -> upstreams {upstreams} ({self.conf_path})")
        self.process = subprocess.Popen(
            [binary, *self._paths()], stdout=self.log_file, stderr=subprocess.STDOUT
        )
        self.wait_serving(upstreams)

    def _paths(self) -> list[str]:
        # -e: the log nginx opens before it has read the configuration (the compiled-in
        # /var/log/nginx/error.log is not writable for a non-root CI user).
        return ["-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(self.conf_path)]

    def _write_upstreams(self, ports: list[int]) -> None:
        # max_fails=0: ingress-nginx balances in Lua and marks no endpoint down after a failure;
        # the retry (proxy_next_upstream) is what moves a failed request to another endpoint.
        lines = [f"server 127.0.0.1:{port} max_fails=0;" for port in ports]
        (self.prefix / "upstream-servers.conf").write_text("\n".join(lines) + "\n")
        self.upstreams = list(ports)

    def test_config(self) -> None:
        result = subprocess.run(
            [self.binary, "-t", "-q", *self._paths()], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {result.stderr.strip()}")

    def set_upstreams(self, ports: list[int]) -> None:
        """Rewrites the endpoint list, reloads (SIGHUP), and waits until fresh connections only reach
        `ports`: the old worker finishes its in-flight requests and exits on its own."""
        self.prepare_upstreams(ports)
        self.reload()
        self.wait_serving(ports)

    def prepare_upstreams(self, ports: list[int]) -> None:
        """Writes and checks the next endpoint list; `reload()` makes it live (nginx -t takes tens of
        milliseconds, which must not come between a kill signal and the reload)."""
        log(f"nginx: endpoints {self.upstreams} -> {ports}")
        self._write_upstreams(ports)
        self.test_config()

    def reload(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def wait_serving(self, ports: list[int], timeout: float = 30.0) -> None:
        """Until a row of fresh-connection requests has been answered only by `ports` (round robin
        visits each of them in that many requests)."""
        wanted = {f"127.0.0.1:{port}" for port in ports}
        deadline = time.monotonic() + timeout
        streak = 0
        last: object = None
        while time.monotonic() < deadline and streak < 4 * len(ports):
            try:
                code, headers, _ = http_get(self.url + "/")
                last = (code, headers.get("x-upstream"))
                streak = streak + 1 if code == 200 and headers.get("x-upstream") in wanted else 0
            except OSError as error:
                last, streak = error, 0
            if streak == 0:
                time.sleep(0.02)
        if streak < 4 * len(ports):
            raise TimeoutError(f"nginx did not settle on {sorted(wanted)} within {timeout}s (last: {last})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""
