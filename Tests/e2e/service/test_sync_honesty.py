"""A lying /sync server (RFC 5905 §8): its t3 − t2 exceeds the round trip by 1 s, so the delay
δ = (t4 − t1) − (t3 − t2) is negative. Such an exchange is rejected and counted, never clamped to
a perfect 0; when every exchange lies, `sync` and `check` exit 2 with one line. The control is the
same fixture telling the truth. Client and fixture share this machine's clock: the true offset is 0.
Run by make clock-test."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from harness.answering_server import AnsweringServers

pytestmark = pytest.mark.clock  # make clock-test

MS = 1_000_000
SYNCHRONIZED = {"synchronized": True, "max_error_ns": 2 * MS, "estimated_error_ns": 100_000, "state": "TIME_OK"}


class SyncFixture:
    """Answers GET /sync like an epoch server; `lies(n)` says whether answer n (from 0) puts its
    t2 one second before its t3, i.e. claims a second of processing the round trip never had."""

    def __init__(self, lies):
        self.lies = lies
        self.served = 0

    def __call__(self, path: str) -> tuple[int, str, bytes]:
        n = self.served
        self.served += 1
        t3 = time.time_ns()
        t2 = t3 - 1_000_000_000 if self.lies(n) else t3
        body = json.dumps({"type": "sync", "t1": None, "t2": t2, "t3": t3, "unit": "ns",
                           "clock": SYNCHRONIZED, "rev": "liar01"}).encode()
        return 200, "application/json", body


@pytest.fixture
def sync_fixture():
    """Starts a SyncFixture on loopback: `sync_fixture(lies).url`."""
    with AnsweringServers() as servers:
        yield lambda lies: servers.start(SyncFixture(lies))


def epoch(binary, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def contains_zero(report) -> bool:
    return abs(report["offset_ns"]) <= report["error_bound_ns"]


@pytest.mark.parametrize("command", [["sync"], ["check", "--max-offset", "5s"]])
def test_a_server_whose_every_exchange_lies_is_exit_2_in_one_line(release_binary, sync_fixture, command):
    liar = sync_fixture(lambda n: True)
    done = epoch(release_binary, command[0], liar.url, *command[1:])
    print(done.stdout, done.stderr)
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"epoch: {liar.url}/sync: the server's timestamps are inconsistent: in 8 of 8 exchanges")
    assert "exceeded the whole round trip" in lines[0]


def test_control_the_same_fixture_telling_the_truth_passes(release_binary, sync_fixture):
    honest = sync_fixture(lambda n: False)
    report = json.loads(epoch(release_binary, "sync", honest.url, "--json").stdout)
    assert report["rejected_exchanges"] == 0 and report["samples"] == 8
    assert contains_zero(report), report
    check = epoch(release_binary, "check", honest.url, "--max-offset", "5s")
    assert check.returncode == 0 and "clock check passed" in check.stdout, check


def test_when_half_the_exchanges_lie_they_are_rejected_and_the_rest_hold_the_truth(release_binary, sync_fixture):
    half = sync_fixture(lambda n: n % 2 == 0)
    result = epoch(release_binary, "sync", half.url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print(f"offset {report['offset_ns'] / 1e6:+.3f} ms ± {report['error_bound_ns'] / 1e6:.3f} ms, "
          f"rejected {report['rejected']}")
    assert report["rejected_exchanges"] == 4 and report["rejected"] == ["negative_delay"] * 4
    assert report["samples"] == 4
    # The liars' offset is about −0.5 s with a "perfect" delay: had one been used, this fails.
    assert contains_zero(report), report
    assert report["delay_ns"] > 0
    sentence = epoch(release_binary, "sync", half.url).stdout
    assert "4 more exchanges were rejected (negative_delay)." in sentence, sentence
