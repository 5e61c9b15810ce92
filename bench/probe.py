#!/usr/bin/env python3
"""Small timing and probing helpers for bench/run (standard library only).

  probe.py freeport                      print a free TCP port on 127.0.0.1
  probe.py wait PORT TIMEOUT_S           wait until GET / on 127.0.0.1:PORT answers 200
  probe.py body PORT                     print the body of GET / (no trailing newline)
  probe.py starts RUNS SERVER_CPU POLL_CPU -- NAME PORT LOG CMD... [-- NAME PORT LOG CMD...]
      start each server RUNS times, alternating between them; each time measure from just before
      the exec (posix_spawn, pinned to SERVER_CPU) to the first 200 on GET / (a tight
      connect/request loop from POLL_CPU), then SIGTERM it and wait for its exit. Prints per server
      one line: "NAME median_us=... min_us=... max_us=... samples_us=a,b,c exit_codes=0,0,..."
      CPU arguments may be "-" for "do not pin".
  probe.py cpusnap FILE                  save every process's CPU ticks (with its waited children's)
  probe.py foreign FILE OURS_PID...      print the % of all CPUs that processes other than OURS_PID,
      their descendants and kernel threads used since `cpusnap FILE` (processes that came and went
      in between count through their waiting parent, e.g. a compiler through its build driver)
"""

import os
import signal
import socket
import statistics
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def die(message: str) -> None:
    print(f"probe: {message}", file=sys.stderr)
    sys.exit(1)


def get_root(port: int, timeout: float = 2.0) -> bytes:
    """One GET / over a fresh connection; returns the whole response. Raises OSError when refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(REQUEST)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


def freeport() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def wait(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while time.monotonic() < deadline:
        try:
            response = get_root(port)
            if status_of(response) == 200:
                return
            last = f"status {status_of(response)}"
        except OSError as error:
            last = str(error)
        time.sleep(0.005)
    die(f"127.0.0.1:{port} gave no 200 on GET / within {timeout}s (last: {last})")


def body(port: int) -> None:
    response = get_root(port)
    if status_of(response) != 200:
        die(f"GET / on 127.0.0.1:{port} answered {status_of(response)}")
    sys.stdout.write(response.split(b"\r\n\r\n", 1)[1].decode())


def pin(cpu: str) -> None:
    if cpu != "-":
        os.sched_setaffinity(0, {int(cpu)})


def stop(pid: int, timeout: float = 10.0) -> int:
    """SIGTERM, then wait; SIGKILL after `timeout`. Returns the exit code (128+signal if killed)."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    die(f"pid {pid} did not exit within {timeout}s of SIGTERM (killed)")
    return 137


def one_start(cmd: list, port: int, server_cpu: str, poll_cpu: str, log: str, timeout: float = 5.0) -> tuple:
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
    ]
    pin(server_cpu)  # the child inherits this affinity, as with `taskset -c SERVER_CPU CMD`
    started = time.perf_counter_ns()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
    pin(poll_cpu)
    shared_core = server_cpu == poll_cpu or "-" in (server_cpu, poll_cpu)
    deadline = started + int(timeout * 1e9)
    try:
        while True:
            try:
                response = get_root(port)
                if status_of(response) == 200:
                    elapsed = time.perf_counter_ns() - started
                    break
            except OSError:
                pass
            if time.perf_counter_ns() > deadline:
                die(f"{cmd[0]} gave no 200 on 127.0.0.1:{port} within {timeout}s (see {log})")
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                die(f"{cmd[0]} exited (status {status}) before answering 200 (see {log})")
            if shared_core:
                time.sleep(0.0001)  # do not starve the starting server of its only core
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    return elapsed // 1000, stop(pid)


def starts(runs: int, server_cpu: str, poll_cpu: str, servers: list) -> None:
    samples = {name: [] for name, *_ in servers}
    codes = {name: [] for name, *_ in servers}
    for _ in range(runs):
        for name, port, log, cmd in servers:
            elapsed_us, code = one_start(cmd, port, server_cpu, poll_cpu, log)
            samples[name].append(elapsed_us)
            codes[name].append(code)
    for name, *_ in servers:
        s = samples[name]
        print(
            f"{name} median_us={int(statistics.median(s))} min_us={min(s)} max_us={max(s)}"
            f" samples_us={','.join(map(str, s))} exit_codes={','.join(map(str, codes[name]))}"
        )


def process_ticks() -> dict:
    """pid -> (ppid, utime+stime+cutime+cstime) of every user process (kernel threads left out)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, flags = int(fields[1]), int(fields[6])
        if flags & 0x00200000 or int(entry) == 2 or ppid == 2:  # PF_KTHREAD
            continue
        table[int(entry)] = (ppid, sum(int(x) for x in fields[11:15]))
    return table


def cpusnap(path: str) -> None:
    with open(path, "w") as f:
        f.write(f"{time.monotonic()}\n")
        for pid, (ppid, ticks) in process_ticks().items():
            f.write(f"{pid} {ppid} {ticks}\n")


def foreign(path: str, ours: list) -> None:
    with open(path) as f:
        started = float(f.readline())
        before = {int(p): int(t) for p, _, t in (line.split() for line in f)}
    now = process_ticks()
    ours = set(ours) | {os.getpid()}

    def is_ours(pid: int) -> bool:
        for _ in range(64):
            if pid in ours:
                return True
            if pid not in now or pid <= 1:
                return False
            pid = now[pid][0]
        return False

    used = sum(max(0, ticks - before.get(pid, 0)) for pid, (_, ticks) in now.items() if not is_ours(pid))
    capacity = (time.monotonic() - started) * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
    print(f"{100 * used / capacity:.0f}" if capacity > 0 else "0")


def main(argv: list) -> None:
    if not argv:
        die(__doc__)
    command, args = argv[0], argv[1:]
    if command == "freeport":
        freeport()
    elif command == "wait":
        wait(int(args[0]), float(args[1]))
    elif command == "body":
        body(int(args[0]))
    elif command == "starts":
        if "--" not in args:
            die("starts: missing -- before the first server")
        split = args.index("--")
        runs, server_cpu, poll_cpu = args[:split]
        servers, group = [], []
        for arg in args[split + 1 :] + ["--"]:
            if arg == "--":
                if len(group) < 4 or not os.path.isabs(group[3]):
                    die("starts: each server needs NAME PORT LOG /ABSOLUTE/CMD [ARGS...]")
                servers.append((group[0], int(group[1]), group[2], group[3:]))
                group = []
            else:
                group.append(arg)
        starts(int(runs), server_cpu, poll_cpu, servers)
    elif command == "cpusnap":
        cpusnap(args[0])
    elif command == "foreign":
        foreign(args[0], [int(pid) for pid in args[1:]])
    else:
        die(f"unknown command {command!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
