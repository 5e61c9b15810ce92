#!/usr/bin/env python3
"""A pipelining flood: many connections send `GET /` back to back and never read an answer.

Shared by `make bench` (bench/run: the server's RSS under the flood) and the e2e test
Tests/e2e/service/test_backpressure.py (the RSS bound, a normal client still answered, the server alive).
Standard library only.

  flood.py PORT PID [--connections 100] [--megabytes 8] [--seconds 10] [--stop-above-kib N]
      floods 127.0.0.1:PORT while sampling /proc/PID/status (PID: the server, or several
      comma-separated, e.g. nginx's master and worker), and times one normal keep-alive client's
      GET / in the middle. Prints one line:
      "FLOOD sent_bytes=... connections=... idle_kib=... peak_kib=... normal_status=...
       normal_ms=... stopped_early=0|1 alive=0|1"

Each connection tries to send MEGABYTES of requests within SECONDS; a server with backpressure
stops reading, so most of it never leaves the client, and that is the point. --stop-above-kib ends
the flood as soon as the sampled RSS exceeds that many KiB, which keeps a control run against a
server without backpressure from taking the machine's memory.
"""

import argparse
import selectors
import socket
import sys
import threading
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CHUNK = REQUEST * (65536 // len(REQUEST))


def rss_kib(pids: list[int]) -> int:
    """The sum of VmRSS over the PIDs; raises OSError when one is gone."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def alive(pids: list[int]) -> bool:
    try:
        rss_kib(pids)
        return True
    except OSError:
        return False


def normal_get(port: int, timeout: float = 5.0) -> tuple[int, float]:
    """One ordinary keep-alive client's GET /: (status, milliseconds); status 0 when unanswered."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(REQUEST)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    return 0, (time.monotonic() - started) * 1000
                received += chunk
            parts = received.split(b" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            return status, (time.monotonic() - started) * 1000
    except OSError:
        return 0, (time.monotonic() - started) * 1000


def flood(
    port: int, pids: list[int], connections: int = 100, megabytes: float = 8, seconds: float = 10,
    stop_above_kib: int | None = None,
) -> dict[str, int | float]:
    """Runs the flood; returns the figures that `main` prints."""
    if not (1 <= connections <= 1000 and 0 < megabytes <= 64 and 0 < seconds <= 60):
        raise ValueError("bounded floods only: 1-1000 connections, up to 64 MB each, up to 60 s")
    idle = rss_kib(pids)
    target = int(megabytes * 1_000_000)
    selector = selectors.DefaultSelector()
    sent: dict[socket.socket, int] = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_WRITE)
        sent[sock] = 0
    peak = idle
    stopped_early = False
    normal: dict[str, float] = {}
    deadline = time.monotonic() + seconds
    halfway = time.monotonic() + seconds / 2
    probe: threading.Thread | None = None
    next_sample = 0.0
    try:
        while time.monotonic() < deadline and selector.get_map():
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 0.05
                try:
                    peak = max(peak, rss_kib(pids))
                except OSError:
                    break  # the server is gone: `alive` reports it
                if stop_above_kib is not None and peak > stop_above_kib:
                    stopped_early = True
                    break
            if probe is None and now >= halfway:
                probe = threading.Thread(
                    target=lambda: normal.update(zip(("status", "ms"), normal_get(port))), daemon=True)
                probe.start()
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                try:
                    count = sock.send(CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    selector.unregister(sock)
                    continue
                sent[sock] += count
                if sent[sock] >= target:
                    selector.unregister(sock)
        if probe is None:
            probe = threading.Thread(
                target=lambda: normal.update(zip(("status", "ms"), normal_get(port))), daemon=True)
            probe.start()
        # Keep sampling while the normal client waits for its answer.
        while probe.is_alive():
            try:
                peak = max(peak, rss_kib(pids))
            except OSError:
                break
            probe.join(0.05)
    finally:
        for sock in sent:
            sock.close()
        selector.close()
    return {
        "sent_bytes": sum(sent.values()),
        "connections": connections,
        "idle_kib": idle,
        "peak_kib": peak,
        "normal_status": int(normal.get("status", 0)),
        "normal_ms": round(normal.get("ms", 0.0), 1),
        "stopped_early": int(stopped_early),
        "alive": int(alive(pids)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("pids", help="the server's PID, or several comma-separated")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--megabytes", type=float, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--stop-above-kib", type=int)
    args = parser.parse_args()
    try:
        figures = flood(
            args.port, [int(pid) for pid in args.pids.split(",")], args.connections, args.megabytes, args.seconds,
            args.stop_above_kib)
    except (OSError, ValueError) as error:
        print(f"flood: {error}", file=sys.stderr)
        sys.exit(1)
    print("FLOOD " + " ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
