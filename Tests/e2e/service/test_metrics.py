"""Operability of the release binary: /metrics that `promtool check metrics` accepts, the
standard process series read from /proc, `epoch_build_info`, and structured logs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from harness.http import http_get
from harness.metrics import check_exposition, families
from harness.polling import wait_until

pytestmark = pytest.mark.monitoring  # make monitoring-test

PROCESS_SERIES = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
# go-microepoch's counter of `/` requests, kept by its name for existing dashboards: promtool
# lints its `_count` suffix. Every other family must pass promtool as it is.
LEGACY_NAMES = {"epoch_request_count"}


def test_server_metrics_pass_promtool_with_help_and_type(epoch_server):
    server = epoch_server()
    http_get(server.url + "/")  # a request series exists
    status, headers, body = http_get(server.url + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    check_exposition(body.decode(), LEGACY_NAMES)


def test_the_control_exposition_fails_the_same_check():
    """The check above can fail: a family without HELP, the way promtool reports it."""
    with pytest.raises(AssertionError):
        check_exposition("# TYPE some_total counter\nsome_total 1\n")


def test_process_series_are_read_from_proc_at_scrape(epoch_server):
    launched = time.time()
    server = epoch_server()
    pid = server.process.pid
    _, _, body = http_get(server.url + "/metrics")
    text = body.decode()
    found = families(text)
    for name, kind in PROCESS_SERIES.items():
        assert found.get(name, {}).get("type") == kind, f"{name}: {found.get(name)}"
    value = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(process_\w+) (\S+)$", text, re.M)}
    with open(f"/proc/{pid}/status") as status:
        rss_kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.M).group(1))
    # Resident memory within 25 % of what the kernel says a moment later (pages come and go).
    assert abs(value["process_resident_memory_bytes"] - rss_kib * 1024) <= 0.25 * rss_kib * 1024
    assert value["process_open_fds"] == pytest.approx(len(os.listdir(f"/proc/{pid}/fd")), abs=3)
    assert launched - 1 <= value["process_start_time_seconds"] <= time.time()
    with open(f"/proc/{pid}/limits") as limits:
        soft = int(re.search(r"^Max open files\s+(\d+)", limits.read(), re.M).group(1))
    assert value["process_max_fds"] == soft
    # CPU time only grows between scrapes.
    for _ in range(200):
        http_get(server.url + "/")
    _, _, again = http_get(server.url + "/metrics")
    later = float(re.search(r"^process_cpu_seconds_total (\S+)$", again.decode(), re.M).group(1))
    assert later >= value["process_cpu_seconds_total"]


def test_build_info_names_the_build(epoch_server):
    server = epoch_server()
    _, _, version = http_get(server.url + "/version")
    expected = json.loads(version)
    _, _, body = http_get(server.url + "/metrics")
    match = re.search(r'^epoch_build_info\{(.*)\} 1(\.0)?$', body.decode(), re.M)
    assert match, body.decode()
    labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
    assert labels == {"version": expected["version"], "rev": expected["rev"], "swift": expected["swift"]}


def log_lines(server) -> list[str]:
    """The log so far, once start-up's "listening" line is in it (bounded: it is written after the
    bind, beside serving, so /readyz can answer first); then 0.2 s for any line still on its way."""
    wait_until(lambda: "listening" in server.output(), 10, "the server never logged listening")
    time.sleep(0.2)
    return [line for line in server.output().splitlines() if line.strip()]


def test_json_logs_are_one_object_a_line_and_quiet_per_request(epoch_server):
    """Started with stderr to a file (not a terminal), so JSON is the default; no flag given."""
    server = epoch_server()
    before = log_lines(server)
    assert before, "the server logged nothing at start-up"
    for line in before:
        entry = json.loads(line)
        assert {"time", "level", "message"} <= entry.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    listening = [json.loads(line) for line in before if json.loads(line)["message"] == "listening"]
    assert listening and listening[0]["metadata"]["address"].endswith(f":{server.port}")
    for _ in range(50):
        http_get(server.url + "/")
        http_get(server.url + "/nope")
    assert log_lines(server) == before, "requests were logged at info"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_text_logs_on_request(epoch_server, how):
    """The control of the JSON default: the same start-up with text asked for."""
    if how == "flag":
        server = epoch_server("--log-format", "text")
    else:
        server = epoch_server(env={"EPOCH_LOG_FORMAT": "text"})
    lines = log_lines(server)
    assert lines and all(not line.startswith("{") for line in lines), lines
    assert any("listening" in line for line in lines)


def test_a_bad_log_format_is_one_line_and_exit_2(release_binary):
    done = subprocess.run([str(release_binary), "serve", "--log-format", "yaml"], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = subprocess.run(
        [str(release_binary), "serve", "--port", "0"], capture_output=True, text=True,
        env={**os.environ, "EPOCH_LOG_FORMAT": "yaml"}, timeout=10,
    )
    assert done.returncode == 2 and "EPOCH_LOG_FORMAT=yaml is invalid" in done.stderr
