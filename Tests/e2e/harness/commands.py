"""Running a command in the repository with its output kept for the failure message, and saying
what a long run does, with the time."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness.paths import REPO_ROOT


def run(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, check: bool = True,
        timeout: float = 180, input: str | None = None, stdin=None) -> subprocess.CompletedProcess:
    """Runs a command in the repository (text output captured); with `check`, a non-zero exit fails
    with both outputs."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd or REPO_ROOT,
                          timeout=timeout, input=input, stdin=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
