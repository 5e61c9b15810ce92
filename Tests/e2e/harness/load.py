"""Our load generator: an asyncio HTTP/1.1 keep-alive client at a fixed rate over a few connections,
for the rollout (rollout.py) and the soak (bench/soak.py). It counts every request: 2xx with the
expected JSON body, non-2xx, and connection errors (connect refused, reset, EOF or timeout before a
complete response), and which upstream answered (nginx's X-Upstream header). It never retries.
`LoadProcess` runs it as `python -m harness.load ...` so that it owns a core's worth of Python;
SIGUSR1 asks it to stop once it has sent at least --min-requests; --max-requests and --max-seconds
bound it anyway."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h11

from harness.http import EPOCH_JSON_RE, Response, ResponseReader


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
    """`python -m harness.load ...` in the background; `finish()` stops it and returns its figures."""

    def __init__(self, url: str, rate: float, connections: int, min_requests: int, max_requests: int,
                 max_seconds: float, progress: bool = False):
        command = [sys.executable, "-m", "harness.load", "--url", url, "--rate", str(rate),
                   "--connections", str(connections), "--min-requests", str(min_requests),
                   "--max-requests", str(max_requests), "--max-seconds", str(max_seconds)]
        if progress:
            command.append("--progress")
        self.max_seconds = max_seconds
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_with_harness_path())

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


def _with_harness_path() -> dict[str, str]:
    """The environment with this package's parent first on PYTHONPATH, so that `-m harness.load` runs
    from any working directory."""
    parent = str(Path(__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": parent + (os.pathsep + rest if rest else "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--min-requests", type=int, default=0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--progress", action="store_true")
    _load_main(parser.parse_args())


if __name__ == "__main__":
    main()
