"""Rolling replacement under load (service/test_rollout.py): two `epoch serve` instances behind nginx
(nginx.py), replaced one at a time the way Kubernetes does it: the kill signal and the endpoint
change at the same moment (SIGTERM, relying on the server's drain; SIGKILL for the control run),
while the load generator (load.py) runs; returns the figures. By hand, one run:
`PYTHONPATH=Tests/e2e .venv/bin/python -m harness.rollout --mode graceful|sigkill`."""
from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.commands import log
from harness.http import wait_for_http
from harness.load import LoadProcess
from harness.nginx import Nginx
from harness.paths import REPO_ROOT
from harness.ports import free_port


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
            shutdown_delay: str = "3s", progress: bool = False) -> dict:
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
    parser.add_argument("--binary", default=str(REPO_ROOT / ".build" / "release" / "epoch"))
    parser.add_argument("--mode", choices=["graceful", "sigkill"], default="graceful")
    parser.add_argument("--rate", type=float, default=2500)
    parser.add_argument("--min-requests", type=int, default=25_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="epoch-rollout-") as workdir:
        figures = rollout(Path(args.binary), Path(workdir), mode=args.mode, rate=args.rate,
                          min_requests=args.min_requests, progress=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
