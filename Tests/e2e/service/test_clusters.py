"""Two clusters on one machine (docs/multi-cluster.md): network namespaces "gke" and "eks" joined by
a veth pair, each running the release binary's server (its own Roughtime key) and watch (its own
server and the other's, /sync and Roughtime), one real Prometheus scraping both watches with
deploy/prometheus/clusters/epoch-clusters-alerts.yaml. Then the chained Roughtime report of
`epoch check --report` over both clusters and a third server, re-verified by
scripts/verify-roughtime-report.py (Python's `cryptography`, not our code).

Needs root (ip netns); make clusters-test runs it."""
from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from harness.clusters import CLUSTER_ADDRESS, MONITOR_LINK, ROUGHTIME_PORT, Clusters
from harness.paths import REPO_ROOT
from harness.polling import wait_until as poll_until

sys.path.insert(0, str(REPO_ROOT / "scripts"))
verifier = __import__("verify-roughtime-report")  # the independent verifier's parser, to tamper precisely

RULES = REPO_ROOT / "deploy" / "prometheus" / "clusters" / "epoch-clusters-alerts.yaml"
VERIFIER = REPO_ROOT / "scripts" / "verify-roughtime-report.py"


# Every check here starts an `ip netns exec … curl` process: poll at 2 Hz, not the harness's 20.
def wait_until(check, timeout: float, message: str):
    return poll_until(check, timeout, message, interval=0.5)


ALERT = "EpochClustersDisagree"
# Bounds on polling, never asserted as durations: the machine is shared and loaded.
SETTLE = 90
EVALUATION_INTERVAL = 1.0  # clusters_support.Clusters.prometheus's evaluation_interval

pytestmark = [pytest.mark.clusters,  # make clusters-test
              pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")]


@pytest.fixture(scope="module")
def clusters(release_binary, tmp_path_factory):
    made = Clusters(binary=release_binary, tmp=tmp_path_factory.mktemp("clusters"), repo=REPO_ROOT)
    try:
        made.build_network()
        for cluster in ("gke", "eks"):
            made.serve(cluster)
        for cluster in ("gke", "eks"):
            made.watch(cluster)
        made.prometheus(RULES)
        yield made
    finally:
        made.close()
        leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert made.prefix not in leftovers, f"namespaces left behind: {leftovers}"
        for log in sorted(made.tmp.glob("*.log")):
            print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-4:]))


def sources_up(clusters: Clusters) -> dict[tuple[str, str], float]:
    """(watching cluster, measured cluster) → how many of those sources are up (0-2: /sync, Roughtime)."""
    result = clusters.query("sum by (cluster, source_cluster) (epoch_watch_source_up)")
    return {(r["metric"]["cluster"], r["metric"]["source_cluster"]): float(r["value"][1]) for r in result}


def all_up(clusters: Clusters):
    up = sources_up(clusters)
    return len(up) == 4 and all(v == 2 for v in up.values()) and up


def firing(clusters: Clusters) -> set[str]:
    return {a["labels"]["source_cluster"] for a in clusters.alerts(ALERT) if a["state"] == "firing"}


def over_evaluations(clusters: Clusters, evaluations: int, check) -> None:
    """Runs `check` until Prometheus has evaluated its rules `evaluations` more times (polled, bounded)."""
    start = clusters.evaluations()
    deadline = time.monotonic() + SETTLE
    while clusters.evaluations() < start + evaluations:
        check()
        assert time.monotonic() < deadline, f"Prometheus did not evaluate its rules {evaluations} times"
        time.sleep(0.2)
    check()


def silent_for(clusters: Clusters, evaluations: int, also=lambda: True) -> None:
    """The alert stays silent (neither pending nor firing) over `evaluations` rule evaluations."""
    def check():
        assert clusters.alerts(ALERT) == [], f"{ALERT} went off: {clusters.alerts(ALERT)}"
        assert also()
    over_evaluations(clusters, evaluations, check)


def seconds(rfc3339: str) -> float:
    """Prometheus's activeAt (nanosecond digits) as Unix seconds."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc).timestamp() + float(f"0.{fraction or 0}")


def test_1_control_no_skew_no_alert(clusters):
    up = wait_until(lambda: all_up(clusters), SETTLE, f"not every source came up: {sources_up(clusters)}")
    print(f"every source up: {up}")
    silent_for(clusters, 5)
    offsets = clusters.query("max(abs(epoch_watch_offset_seconds))")
    print(f"control: largest |offset| {float(offsets[0]['value'][1]):.4f} s, {ALERT} silent for 5 evaluations")


def test_2_a_server_20s_ahead_fires_for_its_cluster_only(clusters):
    clusters.serve("gke", "--clock-skew", "20s")
    wait_until(lambda: firing(clusters), SETTLE, f"{ALERT} did not fire for the skewed cluster")
    assert firing(clusters) == {"gke"}
    # Both watches saw it: eks's watch through the link, gke's against its own Service.
    def seen_by():
        seen = clusters.query('(abs(epoch_watch_offset_seconds{source_cluster="gke"}) > 19) and epoch_watch_source_up == 1')
        return {r["metric"]["cluster"] for r in seen} == {"gke", "eks"}
    wait_until(seen_by, SETTLE, "the skew was not seen by both watches")

    def only_gke():
        assert firing(clusters) == {"gke"}
    over_evaluations(clusters, 3, only_gke)
    # Within three evaluation intervals of the first scrape that showed the skew, counted in
    # Prometheus's own timestamps (scheduled scrape and evaluation times, not this test's clock):
    # the next evaluation, one more when the scrape is appended late on a loaded machine, and one
    # more when the watch's other source in that cluster (the rule's `unless`) shows the skew a
    # round later than the first.
    samples = clusters.query('epoch_watch_offset_seconds{source_cluster="gke"}[5m]')
    first = min(float(t) for series in samples for t, v in series["values"] if abs(float(v)) > 19)
    alert = clusters.alerts(ALERT)[0]
    delay = seconds(alert["activeAt"]) - first
    print(f"firing for gke only (activeAt {alert['activeAt']}, {delay:.3f} s after the first skewed sample, "
          f"value {alert['value']})")
    assert 0 <= delay <= 3 * EVALUATION_INTERVAL
    clusters.serve("gke")
    wait_until(lambda: not clusters.alerts(ALERT), SETTLE, f"{ALERT} did not resolve after the skew was removed")


def test_3_link_cut_peer_down_local_up_no_false_alert_then_recovery(clusters):
    wait_until(lambda: all_up(clusters), SETTLE, "sources not up before the cut")
    clusters.set_link(False)
    try:
        def cut():
            up = sources_up(clusters)
            return (up.get(("gke", "eks")) == 0 and up.get(("eks", "gke")) == 0
                    and up.get(("gke", "gke")) == 2 and up.get(("eks", "eks")) == 2 and up)
        print(f"link cut: {wait_until(cut, SETTLE, f'peer sources did not go down alone: {sources_up(clusters)}')}")
        silent_for(clusters, 5, also=lambda: cut() is not False)
    finally:
        clusters.set_link(True)
    print(f"link back: {wait_until(lambda: all_up(clusters), SETTLE, 'peer sources did not recover')}")
    silent_for(clusters, 3)


def run_report(clusters: Clusters, report, third: str, *extra: str) -> subprocess.CompletedProcess:
    """`epoch check --report` from the gke cluster over gke, eks and the third server (in the
    monitoring namespace, reached over gke's link to it)."""
    servers = [f"roughtime://127.0.0.1:{ROUGHTIME_PORT}", f"roughtime://{CLUSTER_ADDRESS['eks']}:{ROUGHTIME_PORT}",
               f"roughtime://{MONITOR_LINK['gke'][0]}:{ROUGHTIME_PORT}"]
    keys = [clusters.public_keys["gke"], clusters.public_keys["eks"], clusters.public_keys[third]]
    argv = [str(clusters.binary), "check", *servers, "--max-offset", "60s", "--report", str(report), *extra]
    for key in keys:
        argv += ["--public-key", key]
    return clusters.exec("gke", argv)


def verify(report, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(VERIFIER), str(report), *args], capture_output=True, text=True)


def test_4_chained_report_names_the_liar_and_an_independent_verifier_agrees(clusters):
    # The control first: the third server on time, everything else the same.
    clusters.serve("honest", namespace="mon")
    honest = clusters.tmp / "honest-report.json"
    result = run_report(clusters, honest, "honest", "--allow-unsynchronized-server")
    print(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert "causal order holds" in result.stdout
    checked = verify(honest, "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["violations"] == []
    clusters.stop("serve-honest")

    clusters.serve("liar", "--clock-skew", "60s", namespace="mon")
    report = clusters.tmp / "liar-report.json"
    result = run_report(clusters, report, "liar")
    print(result.stdout + result.stderr)
    liar_url = f"roughtime://{MONITOR_LINK['gke'][0]}:{ROUGHTIME_PORT}"
    assert result.returncode == 2
    assert f"causal order violated: {liar_url} lied" in result.stderr
    entries = json.loads(report.read_text())["responses"]
    assert len(entries) == 6 and "rand" not in entries[0] and all("rand" in e for e in entries[1:])

    checked = verify(report, "--json")
    print(checked.stdout + checked.stderr)
    assert checked.returncode == 1, checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["liars"] == [clusters.public_keys["liar"]]
    assert clusters.public_keys["gke"] in verdict["servers"] and clusters.public_keys["eks"] in verdict["servers"]

    # Tampered copies must not verify at all (exit 2), each for its own reason.
    def tampered(name: str, change) -> str:
        copy = json.loads(report.read_text())
        change(copy["responses"])
        path = clusters.tmp / f"tampered-{name}.json"
        path.write_text(json.dumps(copy))
        result = verify(path)
        assert result.returncode == 2, f"{name}: {result.stdout}{result.stderr}"
        return result.stderr.strip()

    def liar_midp_back_on_time(entries):
        # The liar's first reply, its signed MIDP put back 60 s: what a liar would like the
        # evidence to say. The response signature no longer verifies.
        raw = bytearray(base64.b64decode(entries[2]["response"]))
        srep = verifier.parse_packet(bytes(raw), "reply")[verifier.tag("SREP")]
        midp = verifier.parse_message(srep, "SREP")[verifier.tag("MIDP")]
        at = raw.find(srep) + srep.find(midp)
        raw[at:at + 8] = (int.from_bytes(midp, "little") - 60).to_bytes(8, "little")
        entries[2]["response"] = base64.b64encode(bytes(raw)).decode()

    def swap_entries(entries):
        entries[3], entries[4] = entries[4], entries[3]

    def other_rand(entries):
        entries[4]["rand"] = base64.b64encode(bytes(32)).decode()

    def other_key(entries):
        entries[0]["publicKey"] = entries[1]["publicKey"]

    for name, change in [("signed MIDP", liar_midp_back_on_time), ("order", swap_entries),
                         ("rand", other_rand), ("key", other_key)]:
        print(f"tampered {name}: {tampered(name, change)}")
