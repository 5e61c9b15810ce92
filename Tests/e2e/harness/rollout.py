"""Rolling replacement under load (test_rollout.py) and the soak's load (bench/soak.py).

- `Nginx`: a real nginx on 127.0.0.1 rendered from deploy/nginx/rollout.conf.template (ingress-nginx's
  upstream defaults); `set_upstreams()` rewrites the endpoint list and reloads it, as an endpoint
  removal does.
- `load`: our load generator, an asyncio HTTP/1.1 keep-alive client at a fixed rate over a few
  connections. It counts every request: 2xx with the expected JSON body, non-2xx, and connection
  errors (connect refused, reset, EOF or timeout before a complete response), and which upstream
  answered (nginx's X-Upstream header). It never retries. Run as a subprocess
  (`python rollout_support.py load ...`) so that it owns a core's worth of Python; SIGUSR1 asks it to
  stop once it has sent at least --min-requests; --max-requests and --max-seconds bound it anyway.
- `rollout()`: two `epoch serve` instances behind nginx, replaced one at a time the way Kubernetes does
  it: the kill signal and the endpoint change at the same moment (SIGTERM, relying on the server's
  drain; SIGKILL for the control run), while `load` runs; returns the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h11

from harness.http import EPOCH_JSON_RE, Response, ResponseReader, http_get, wait_for_http
from harness.paths import REPO_ROOT
from harness.ports import free_port

NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "rollout.conf.template"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# nginx


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


# --------------------------------------------------------------------------------------------------
# The load generator


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0  # 2xx with the expected body
    non_2xx: int = 0
    bad_body: int = 0  # 2xx whose body is not the epoch JSON
    connection_errors: int = 0
    connects: int = 0
    stale_retries: int = 0  # see run_load
    proxy_retried: int = 0  # answered after nginx retried another instance (X-Upstream lists two)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    upstreams: Counter = field(default_factory=Counter)
    first_failures: list = field(default_factory=list)  # (monotonic time, what) of the first few
    started: float = 0.0
    finished: float = 0.0
    latency_max_ms: float = 0.0

    def to_json(self) -> dict:
        return {
            "sent": self.sent, "ok": self.ok, "non_2xx": self.non_2xx, "bad_body": self.bad_body,
            "connection_errors": self.connection_errors, "connects": self.connects,
            "stale_retries": self.stale_retries, "proxy_retried": self.proxy_retried,
            "statuses": dict(self.statuses), "errors": dict(self.errors), "upstreams": dict(self.upstreams),
            "first_failures": self.first_failures, "started": self.started, "finished": self.finished,
            "latency_max_ms": round(self.latency_max_ms, 1),
        }

    def failed(self) -> int:
        return self.non_2xx + self.bad_body + self.connection_errors


class StaleConnection(Exception):
    """A reused keep-alive connection closed before any byte of the response (the peer closed it
    while idle): RFC 9112 section 9.3.1 lets a client retry an idempotent request on a new one."""


async def _read_response(reader: asyncio.StreamReader, parser: ResponseReader, reused: bool) -> Response:
    """The next response on the connection, parsed by h11 (support.ResponseReader)."""
    received = False
    while (response := parser.next()) is None:
        try:
            data = await reader.read(65536)
        except (ConnectionResetError, BrokenPipeError) as error:
            if reused and not received:
                raise StaleConnection(type(error).__name__) from error
            raise
        if not data:
            if reused and not received:
                raise StaleConnection("EOF")
            raise ConnectionAbortedError("EOF before a complete response")
        received = True
        parser.feed(data)
    return response


async def run_load(url: str, rate: float, connections: int, min_requests: int, max_requests: int,
                   max_seconds: float, path: str = "/", timeout: float = 10.0,
                   stop: asyncio.Event | None = None, progress=None) -> LoadResult:
    """Sends GET `path` at `rate` requests/s (a fixed schedule; a late request goes at once) over
    `connections` keep-alive connections until `stop` is set and `min_requests` were sent, or
    `max_requests` / `max_seconds` is reached. Every request is answered or counted as an error;
    the one retry is that of RFC 9112 section 9.3.1 (counted in `stale_retries`): a request whose
    reused keep-alive connection turned out closed before any response byte goes once more on a
    new connection, as HTTP clients do (the peer had closed the idle connection; nothing was lost)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    result = LoadResult()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    result.started = time.monotonic()
    next_slot = 0

    def take_slot() -> float | None:
        nonlocal next_slot
        now = time.monotonic()
        if next_slot >= max_requests or now - result.started >= max_seconds:
            return None
        if stop.is_set() and next_slot >= min_requests:
            return None
        when = result.started + next_slot / rate
        next_slot += 1
        return when

    def fail(kind: str, what: str) -> None:
        if len(result.first_failures) < 20:
            result.first_failures.append((round(time.monotonic(), 3), kind, what))

    async def worker() -> None:
        reader = writer = parser = None
        reused = False
        while True:
            when = take_slot()
            if when is None:
                break
            delay = when - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            result.sent += 1
            began = time.monotonic()
            for attempt in (1, 2):
                try:
                    if writer is None:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
                        parser = ResponseReader()
                        result.connects += 1
                        reused = False
                    writer.write(parser.expect("GET", path, f"{host}:{port}", [("User-Agent", "epoch-rollout-load")]))
                    response = await asyncio.wait_for(_read_response(reader, parser, reused), timeout)
                    status, headers, body = response.status, response.headers, response.body
                    break
                except StaleConnection:
                    writer.transport.abort()
                    reader = writer = None
                    if attempt == 1:
                        result.stale_retries += 1
                        continue
                    error_kind = "StaleConnection"
                except (OSError, asyncio.TimeoutError, h11.ProtocolError) as error:
                    error_kind = f"{type(error).__name__}: {error}"
                result.connection_errors += 1
                result.errors[error_kind.split(":")[0]] += 1
                fail("connection", error_kind)
                if writer is not None:
                    writer.transport.abort()
                reader = writer = None
                status = None
                break
            if status is None:
                continue
            reused = True
            result.latency_max_ms = max(result.latency_max_ms, (time.monotonic() - began) * 1000)
            result.statuses[status] += 1
            upstream = headers.get("x-upstream", "-")
            result.upstreams[upstream] += 1
            if "," in upstream:  # nginx tried more than one instance
                result.proxy_retried += 1
            if 200 <= status < 300:
                if EPOCH_JSON_RE.match(body.decode("latin-1")):
                    result.ok += 1
                else:
                    result.bad_body += 1
                    fail("body", body[:120].decode("latin-1"))
            else:
                result.non_2xx += 1
                fail("status", f"{status} from {upstream}: {body[:120].decode('latin-1')}")
            if parser.must_close:
                writer.close()
                reader = writer = parser = None
        if writer is not None:
            writer.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            if progress:
                progress(result)

    reporter = loop.create_task(report())
    await asyncio.gather(*(worker() for _ in range(connections)))
    reporter.cancel()
    result.finished = time.monotonic()
    return result


def _load_main(args: argparse.Namespace) -> None:
    async def main() -> LoadResult:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, stop.set)

        def progress(r: LoadResult) -> None:
            print(f"load: sent {r.sent} ok {r.ok} non-2xx {r.non_2xx} errors {r.connection_errors}",
                  file=sys.stderr, flush=True)

        return await run_load(args.url, args.rate, args.connections, args.min_requests, args.max_requests,
                              args.max_seconds, path=args.path, stop=stop,
                              progress=progress if args.progress else None)

    print(json.dumps(asyncio.run(main()).to_json()), flush=True)


class LoadProcess:
    """`python rollout_support.py load ...` in the background; `finish()` stops it and returns its figures."""

    def __init__(self, url: str, rate: float, connections: int, min_requests: int, max_requests: int,
                 max_seconds: float, progress: bool = False):
        command = [sys.executable, str(Path(__file__).resolve()), "load", "--url", url, "--rate", str(rate),
                   "--connections", str(connections), "--min-requests", str(min_requests),
                   "--max-requests", str(max_requests), "--max-seconds", str(max_seconds)]
        if progress:
            command.append("--progress")
        self.max_seconds = max_seconds
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def finish(self) -> dict:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
        out, _ = self.process.communicate(timeout=self.max_seconds + 60)
        if self.process.returncode != 0:
            raise RuntimeError(f"load generator exited {self.process.returncode}")
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --------------------------------------------------------------------------------------------------
# The rollout


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    exit_code: int | None = None


def start_instance(binary: Path, name: str, workdir: Path, shutdown_delay: str) -> Instance:
    port = free_port()
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
             "--shutdown-delay", shutdown_delay],
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    instance = Instance(name, port, process, log_path)
    wait_for_http(f"http://127.0.0.1:{port}/readyz")  # the readiness probe
    log(f"{name}: pid {process.pid} on 127.0.0.1:{port} is ready")
    return instance


def rollout(binary: Path, workdir: Path, mode: str = "graceful", rate: float = 2500, connections: int = 16,
            min_requests: int = 25_000, max_requests: int = 60_000, max_seconds: float = 60,
            shutdown_delay: str = "1s", progress: bool = False) -> dict:
    """Runs the load through nginx over two instances and replaces both, one at a time, the way a
    Kubernetes rolling update does: start the new instance, wait for its /readyz, then the race
    Kubernetes really has: the old pod's kill signal and its removal from the endpoints travel at
    the same time. Here the signal goes first and nginx reloads right after it (the new endpoint
    list was written and checked beforehand), with no preStop: only the server's own drain
    (`--shutdown-delay`: keep serving while the endpoint change takes effect) stands between the
    signal and dropped requests.

    mode "graceful": that signal is SIGTERM (exit code 0 expected).
    mode "sigkill" (the control run): the same timing with SIGKILL, i.e. a server that does not
    drain. The requests nginx still sends to it before its reload takes effect, and those in
    flight, fail: nginx retries them on another instance where it can (proxy_next_upstream), and
    logs each failed attempt.
    """
    signals = {"graceful": signal.SIGTERM, "sigkill": signal.SIGKILL}
    if mode not in signals:
        raise ValueError(mode)
    workdir.mkdir(parents=True, exist_ok=True)
    olds: list[Instance] = []
    new_instances: list[Instance] = []
    nginx = load = None
    try:
        for i in (1, 2):
            olds.append(start_instance(binary, f"old{i}", workdir, shutdown_delay))
        instances = list(olds)  # in rotation
        nginx = Nginx(workdir / "nginx", [i.port for i in instances])
        load = LoadProcess(nginx.url, rate, connections, min_requests, max_requests, max_seconds, progress)
        time.sleep(1.0)  # steady load on the old pair first
        rollout_started = time.monotonic()
        for index, old in enumerate(olds, start=1):
            new = start_instance(binary, f"new{index}", workdir, shutdown_delay)
            new_instances.append(new)
            instances[instances.index(old)] = new
            nginx.prepare_upstreams([i.port for i in instances])
            log(f"{old.name}: {signals[mode].name} and the endpoint change (nginx reload) at once")
            old.process.send_signal(signals[mode])
            nginx.reload()
            nginx.wait_serving([i.port for i in instances])
            old.exit_code = old.process.wait(timeout=60)
            log(f"{old.name}: exited with {old.exit_code}")
        rollout_finished = time.monotonic()
        time.sleep(1.0)  # steady load on the new pair
        figures = load.finish()
        load = None
    finally:
        if load is not None:
            load.kill()
        if nginx is not None:
            nginx.stop()
        for instance in olds + new_instances:
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
                try:
                    instance.process.wait(30)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
                    instance.process.wait()
    errors = nginx.error_log()
    figures.update({
        "mode": mode,
        "old_exit_codes": [old.exit_code for old in olds],
        "instance_ports": {i.name: i.port for i in olds + new_instances},
        "rollout_started": rollout_started,
        "rollout_finished": rollout_finished,
        # nginx logs each failed upstream attempt (a retried one too) at error level.
        "nginx_upstream_errors": len(re.findall(r"\[error\].*upstream", errors)),
        "nginx_error_sample": [line for line in errors.splitlines() if "[error]" in line][:5],
    })
    # Every failed attempt, whether nginx hid it from the client by a retry or not.
    figures["failed_attempts"] = (figures["nginx_upstream_errors"] + figures["non_2xx"]
                                  + figures["connection_errors"] + figures["bad_body"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="the load generator (prints its figures as JSON)")
    load.add_argument("--url", required=True)
    load.add_argument("--path", default="/")
    load.add_argument("--rate", type=float, default=2000)
    load.add_argument("--connections", type=int, default=16)
    load.add_argument("--min-requests", type=int, default=0)
    load.add_argument("--max-requests", type=int, default=100_000)
    load.add_argument("--max-seconds", type=float, default=60)
    load.add_argument("--progress", action="store_true")
    run = sub.add_parser("rollout", help="one rollout run; prints its figures as JSON")
    run.add_argument("--binary", default=str(REPO_ROOT / ".build" / "release" / "epoch"))
    run.add_argument("--mode", choices=["graceful", "sigkill"], default="graceful")
    run.add_argument("--rate", type=float, default=2500)
    run.add_argument("--min-requests", type=int, default=25_000)
    args = parser.parse_args()
    if args.command == "load":
        _load_main(args)
    else:
        with tempfile.TemporaryDirectory(prefix="epoch-rollout-") as workdir:
            figures = rollout(Path(args.binary), Path(workdir), mode=args.mode, rate=args.rate,
                              min_requests=args.min_requests, progress=True)
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
