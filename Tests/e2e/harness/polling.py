"""Waiting for a condition the server reaches at its own pace (a counter, a log line, a close),
bounded: a fixed sleep is too short on a loaded machine and too long on an idle one."""
from __future__ import annotations

import time


def wait_until(check, timeout: float, message: str, interval: float = 0.05):
    """Polls `check` until it returns something truthy, at most `timeout` seconds; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)
