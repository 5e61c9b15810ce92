"""Rolling replacement under load through a real nginx (the engine of ingress-nginx): the kill signal
sent at the moment of the endpoint change, as in Kubernetes. SIGTERM must drop nothing (the server's
--shutdown-delay); a control run with SIGKILL at the same moment must show failures
(docs/reliability.md). The work is in rollout_support.py."""
from __future__ import annotations

import shutil

import pytest

from harness.rollout import rollout

pytestmark = pytest.mark.rollout  # make rollout-test

CONNECTIONS = 16
MIN_REQUESTS = 25_000  # the issue asks for at least 20,000
FIGURES: dict[str, dict] = {}  # both runs', for the comparison printed last


@pytest.fixture(scope="module", autouse=True)
def nginx_installed():
    if shutil.which("nginx") is None:
        pytest.fail("nginx is missing: run `make deps` (tools/apt/reliability.txt)")


def show(title: str, figures: dict) -> None:
    names = {f"127.0.0.1:{port}": name for name, port in figures["instance_ports"].items()}
    served = {", ".join(names.get(a, a) for a in key.split(", ")): n for key, n in figures["upstreams"].items()}
    print(f"\n=== {title} ===\n"
          f"requests {figures['sent']} in {figures['finished'] - figures['started']:.1f} s: {figures['ok']} ok, "
          f"{figures['non_2xx']} non-2xx {figures['statuses']}, {figures['connection_errors']} connection errors "
          f"{figures['errors']}, {figures['bad_body']} bad bodies; max latency {figures['latency_max_ms']} ms\n"
          f"old instances exited {figures['old_exit_codes']}; answered by {served}\n"
          f"nginx retried {figures['proxy_retried']} requests on another instance, logged "
          f"{figures['nginx_upstream_errors']} upstream errors; client connections {figures['connects']}, "
          f"stale keep-alive retries {figures['stale_retries']}\n"
          f"failed attempts (nginx upstream errors + client failures): {figures['failed_attempts']}\n"
          f"first failures: {figures['first_failures'][:3]}; nginx: {figures['nginx_error_sample'][:2]}")


def test_rolling_replacement_drops_no_request(release_binary, tmp_path):
    figures = rollout(release_binary, tmp_path, mode="graceful", connections=CONNECTIONS,
                      min_requests=MIN_REQUESTS, progress=True)
    FIGURES["graceful"] = figures
    show("rolling replacement (SIGTERM at the endpoint change, --shutdown-delay 3s)", figures)
    ports = figures["instance_ports"]
    assert figures["sent"] >= MIN_REQUESTS
    assert figures["ok"] == figures["sent"], figures["first_failures"]
    assert figures["non_2xx"] == 0, figures["first_failures"]
    assert figures["bad_body"] == 0, figures["first_failures"]
    assert figures["connection_errors"] == 0, figures["first_failures"]
    assert figures["old_exit_codes"] == [0, 0]
    # Nothing was dropped behind nginx either: no request needed nginx's retry, no upstream error.
    assert figures["proxy_retried"] == 0
    assert figures["nginx_upstream_errors"] == 0, figures["nginx_error_sample"]
    assert figures["failed_attempts"] == 0
    # The load really ran across the replacement: every instance, old and new, answered some of it,
    # and it started before the first replacement and ended after the last.
    for name, port in ports.items():
        assert figures["upstreams"].get(f"127.0.0.1:{port}", 0) > 0, f"{name} got no request"
    assert figures["started"] < figures["rollout_started"] < figures["rollout_finished"] < figures["finished"]
    # The only retry the client makes is RFC 9112's for a keep-alive connection that nginx closed
    # while idle, which each nginx reload does once per client connection (2 reloads).
    assert figures["stale_retries"] <= 2 * CONNECTIONS


def test_sigkill_control_run_shows_failures(release_binary, tmp_path):
    """The same timing, with a server that does not drain (SIGKILL at the endpoint change): it must
    see the damage, or the graceful run's zeros prove nothing."""
    figures = rollout(release_binary, tmp_path, mode="sigkill", connections=CONNECTIONS,
                      min_requests=MIN_REQUESTS, progress=True)
    FIGURES["sigkill"] = figures
    show("control run (SIGKILL at the endpoint change)", figures)
    assert figures["sent"] >= MIN_REQUESTS
    assert figures["old_exit_codes"] == [-9, -9]
    # Requests nginx still sent to the killed instance failed: it retried the GETs it could on the
    # other instance (hidden from the clients, seen in its log), and any it could not reached them.
    assert figures["failed_attempts"] > 0, figures
    assert figures["nginx_upstream_errors"] > 0, figures["nginx_error_sample"]


def test_print_both_runs():
    """The two runs side by side (they differ only in the signal)."""
    rows = ["sent", "ok", "non_2xx", "connection_errors", "proxy_retried", "nginx_upstream_errors", "failed_attempts",
            "stale_retries", "old_exit_codes"]
    print("\n=== rollout: graceful vs control ===")
    print(f"{'':24}{'SIGTERM (graceful)':>22}{'SIGKILL (control)':>22}")
    for row in rows:
        values = [str(FIGURES.get(mode, {}).get(row, "-")) for mode in ("graceful", "sigkill")]
        print(f"{row:24}{values[0]:>22}{values[1]:>22}")
    assert set(FIGURES) == {"graceful", "sigkill"}
