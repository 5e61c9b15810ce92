#!/usr/bin/env python3
"""make soak: GET / at a fixed rate against one `epoch serve` for a while, sampling its RSS every
10 s (VmRSS from /proc). Prints the series; fails when RSS grew more than --max-growth (10 %) from
the first sample under load (at 10 s, warm) to the last, or when any request failed.

The load is the e2e harness's generator (Tests/e2e/harness/load.py (asyncio, keep-alive, never retries a request
that got an answer; counts non-2xx and connection errors)) in its own process. It imports the
`harness` package: make runs it with PYTHONPATH=Tests/e2e (mk/reliability.mk).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.http import wait_for_http
from harness.load import LoadProcess
from harness.paths import REPO_ROOT
from harness.ports import free_port
from harness.servers import rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO_ROOT / ".build" / "release" / "epoch"))
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=1000, help="requests per second")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--interval", type=float, default=10, help="seconds between RSS samples")
    parser.add_argument("--max-growth", type=float, default=0.10)
    args = parser.parse_args()

    binary = Path(args.binary)
    if not os.access(binary, os.X_OK):
        print(f"soak: {binary} is missing: run make release", file=sys.stderr)
        return 1
    port = free_port()
    print(f"soak: {binary} serve on 127.0.0.1:{port}; {args.rate:g} req/s for {args.seconds:g} s over "
          f"{args.connections} connections; RSS every {args.interval:g} s", flush=True)
    server = subprocess.Popen([str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = None
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz")
        idle = rss_kib(server.pid)
        total = int(args.rate * args.seconds)
        load = LoadProcess(f"http://127.0.0.1:{port}", args.rate, args.connections, total, total,
                           args.seconds + 60)
        started = time.monotonic()
        series: list[tuple[float, int]] = []
        while load.process.poll() is None:
            time.sleep(args.interval - ((time.monotonic() - started) % args.interval))
            if load.process.poll() is not None or server.poll() is not None:
                break
            sample = (round(time.monotonic() - started), rss_kib(server.pid))
            series.append(sample)
            print(f"soak: t={sample[0]:>4}s RSS {sample[1]} KiB", flush=True)
        figures = load.finish()
        load = None
        if server.poll() is not None:
            print(f"soak: FAIL: the server exited with {server.returncode}", file=sys.stderr)
            return 1
    finally:
        if load is not None:
            load.kill()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)

    if len(series) < 2:
        print("soak: FAIL: fewer than two RSS samples (is --seconds shorter than two intervals?)", file=sys.stderr)
        return 1
    baseline, last = series[0][1], series[-1][1]
    growth = last / baseline - 1
    elapsed = figures["finished"] - figures["started"]
    print(f"soak: idle RSS {idle} KiB; RSS series (KiB): {[kib for _, kib in series]}")
    print(f"soak: RSS {baseline} KiB at {series[0][0]} s -> {last} KiB at {series[-1][0]} s: "
          f"{growth * 100:+.1f} % (max {max(kib for _, kib in series)} KiB; limit +{args.max_growth * 100:g} %)")
    print(f"soak: {figures['sent']} requests in {elapsed:.0f} s ({figures['sent'] / elapsed:.0f}/s): "
          f"{figures['ok']} ok, {figures['non_2xx']} non-2xx, {figures['connection_errors']} connection errors, "
          f"max latency {figures['latency_max_ms']} ms")
    failed = False
    if growth > args.max_growth:
        print(f"soak: FAIL: RSS grew {growth * 100:.1f} % (> {args.max_growth * 100:g} %)", file=sys.stderr)
        failed = True
    if figures["ok"] != figures["sent"]:
        print(f"soak: FAIL: {figures['sent'] - figures['ok']} requests failed: {figures['first_failures'][:5]}",
              file=sys.stderr)
        failed = True
    if not failed:
        print("soak: passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
