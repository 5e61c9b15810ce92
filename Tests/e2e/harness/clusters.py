"""Two "clusters" on one machine for Tests/e2e/service/test_clusters.py: network namespaces made by the test,
joined by veth pairs with addresses from the test ranges (RFC 5737 192.0.2.0/24 between the
clusters, RFC 2544 198.18.0.0/15 to the monitoring namespace), each running the release binary's
server and watch, and one Prometheus scraping both watches. Everything is torn down in close(),
whatever happened: every process killed by its own pid, every namespace deleted by its own name."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The link between the clusters, and each cluster's link to the monitoring namespace.
CLUSTER_ADDRESS = {"gke": "192.0.2.1", "eks": "192.0.2.2"}
MONITOR_LINK = {"gke": ("198.18.1.1", "198.18.1.2"), "eks": ("198.18.2.1", "198.18.2.2")}
PEER = {"gke": "eks", "eks": "gke"}
HTTP_PORT, ROUGHTIME_PORT, WATCH_PORT, PROMETHEUS_PORT = 8080, 2002, 9471, 9090


def rendered_containers(repo: Path, cluster: str) -> dict[str, dict]:
    """The server's and the watch's container of deploy/k8s/clusters/<cluster>/production, rendered."""
    path = repo / "deploy" / "k8s" / "clusters" / cluster / "production"
    result = subprocess.run([os.environ.get("KUBECTL", "kubectl"), "kustomize", str(path)], capture_output=True, text=True, check=True,
                            env={**os.environ, "KUBECONFIG": "/dev/null"})
    containers = {}
    for doc in yaml.safe_load_all(result.stdout):
        if doc and doc["kind"] in ("Deployment", "DaemonSet"):
            containers[doc["kind"]] = doc["spec"]["template"]["spec"]["containers"][0]
    return containers


def environment(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Clusters:
    """The namespaces `<prefix>-gke`, `<prefix>-eks` and `<prefix>-mon`, and what runs in them."""

    binary: Path
    tmp: Path
    repo: Path
    prefix: str = field(default_factory=lambda: f"epc{os.getpid()}")
    namespaces: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    public_keys: dict[str, str] = field(default_factory=dict)

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    # -- the network ------------------------------------------------------------------------------

    def build_network(self) -> None:
        for name in ("gke", "eks", "mon"):
            ip("netns", "add", self.ns(name))
            self.namespaces.append(self.ns(name))
            ip("-n", self.ns(name), "link", "set", "lo", "up")
        self._veth("gke", "eks", f"{CLUSTER_ADDRESS['gke']}/30", f"{CLUSTER_ADDRESS['eks']}/30", "x")
        for cluster, (monitor_side, cluster_side) in MONITOR_LINK.items():
            self._veth("mon", cluster, f"{monitor_side}/30", f"{cluster_side}/30", cluster[0])

    def _veth(self, left: str, right: str, left_address: str, right_address: str, tag: str) -> None:
        # Interface names are made inside the namespaces at once: nothing appears in the host's.
        a, b = f"v{tag}{left[0]}", f"v{tag}{right[0]}"
        ip("-n", self.ns(left), "link", "add", a, "type", "veth", "peer", "name", b, "netns", self.ns(right))
        ip("-n", self.ns(left), "addr", "add", left_address, "dev", a)
        ip("-n", self.ns(right), "addr", "add", right_address, "dev", b)
        ip("-n", self.ns(left), "link", "set", a, "up")
        ip("-n", self.ns(right), "link", "set", b, "up")

    def set_link(self, up: bool) -> None:
        """Cuts (or restores) the link between the clusters, both ends."""
        state = "up" if up else "down"
        ip("-n", self.ns("gke"), "link", "set", "vxg", state)
        ip("-n", self.ns("eks"), "link", "set", "vxe", state)

    # -- processes --------------------------------------------------------------------------------

    def start(self, key: str, namespace: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.stop(key)
        log = open(self.tmp / f"{key}.log", "ab")
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(namespace), *argv], stdout=log, stderr=subprocess.STDOUT,
            env={"PATH": os.environ["PATH"], **(env or {})})
        self.processes[key] = process
        return process

    def stop(self, key: str) -> None:
        process = self.processes.pop(key, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def exec(self, namespace: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns(namespace), *argv], capture_output=True,
                              text=True, timeout=120, **kwargs)

    def keygen(self, name: str) -> Path:
        path = self.tmp / f"{name}.key"
        result = subprocess.run([str(self.binary), "roughtime", "keygen", str(path)], capture_output=True,
                                text=True, check=True)
        self.public_keys[name] = result.stdout.strip()
        return path

    def serve(self, cluster: str, *extra: str, namespace: str | None = None) -> None:
        """A server with its own Roughtime key, run as the rendered Deployment runs it: its
        environment (port 8080, Roughtime on 2002, ...), the key file standing in for the Secret."""
        key = self.tmp / f"{cluster}.key"
        if not key.exists():
            self.keygen(cluster)
        rendered = environment(rendered_containers(self.repo, "gke")["Deployment"])
        env = {**rendered, "EPOCH_ROUGHTIME_KEY": str(key), "EPOCH_LOG_FORMAT": "json",
               # The lab flag, which the rendered Deployment never sets: this machine's kernel clock is
               # not disciplined (maxerror at its 16 s cap), and a server on it refuses every Roughtime
               # request (issue 19: no honest RADI), so the watches' and the report's Roughtime sources
               # would be silent. With it the server signs a RADI of 17 s; on a synchronized kernel it
               # changes nothing.
               "EPOCH_ROUGHTIME_SERVE_UNSYNCHRONIZED": "1"}
        assert env["EPOCH_PORT"] == str(HTTP_PORT) and env["EPOCH_ROUGHTIME_PORT"] == str(ROUGHTIME_PORT), rendered
        self.start(f"serve-{cluster}", namespace or cluster, [str(self.binary), "serve", *extra], env=env)
        self.wait_http(namespace or cluster, f"http://127.0.0.1:{HTTP_PORT}/readyz")

    def watch(self, cluster: str) -> None:
        """The rendered DaemonSet's watch: its arguments and environment, with the cluster's names
        mapped to this machine's addresses (its own Service to loopback, the peer's public names to
        the peer's address on the link, plain HTTP: the release build has no TLS), the example
        public keys replaced by the keys this test made (in the same order: own, peer), and a 1 s
        interval and timeout so that the test takes seconds, not minutes."""
        container = rendered_containers(self.repo, cluster)["DaemonSet"]
        peer = PEER[cluster]
        names = {
            "http://epoch-app": f"http://127.0.0.1:{HTTP_PORT}",
            f"roughtime://epoch-app:{ROUGHTIME_PORT}": f"roughtime://127.0.0.1:{ROUGHTIME_PORT}",
            f"https://{peer}.epoch.example.com": f"http://{CLUSTER_ADDRESS[peer]}:{HTTP_PORT}",
            f"roughtime://roughtime-{peer}.epoch.example.com:{ROUGHTIME_PORT}":
                f"roughtime://{CLUSTER_ADDRESS[peer]}:{ROUGHTIME_PORT}",
        }
        env = environment(container)
        sources = env["EPOCH_WATCH_SOURCES"].split()
        assert sorted(sources) == sorted(names), f"the rendered watch measures {sources}"
        args = container["args"]
        assert args[0] == "watch" and args.count("--public-key") == 2, args
        keys = iter([self.public_keys[cluster], self.public_keys[peer]])
        argv = [a if args[i - 1] != "--public-key" else next(keys) for i, a in enumerate(args)]
        env.update({"EPOCH_WATCH_SOURCES": " ".join(names[s] for s in sources), "EPOCH_WATCH_INTERVAL": "1s",
                    "EPOCH_LOG_FORMAT": "json"})
        self.start(f"watch-{cluster}", cluster, [str(self.binary), *argv, "--timeout", "1s", "--samples", "2"], env=env)
        self.wait_http(cluster, f"http://127.0.0.1:{WATCH_PORT}/healthz")

    def prometheus(self, rules: Path) -> None:
        config = self.tmp / "prometheus.yml"
        targets = [{"targets": [f"{MONITOR_LINK[c][1]}:{WATCH_PORT}"], "labels": {"cluster": c}} for c in ("gke", "eks")]
        local = f"http://127\\.0\\.0\\.1:{HTTP_PORT}|roughtime://127\\.0\\.0\\.1:{ROUGHTIME_PORT}"
        relabel = [
            # A watch's own cluster's sources (the Service in Kubernetes) are its cluster's.
            {"source_labels": ["cluster", "source"], "regex": f"([a-z]+);({local})",
             "target_label": "source_cluster", "replacement": "$1"},
        ] + [
            {"source_labels": ["source"], "regex": f"[a-z]+://{CLUSTER_ADDRESS[c].replace('.', '[.]')}:[0-9]+",
             "target_label": "source_cluster", "replacement": c}
            for c in ("gke", "eks")
        ]
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "epoch-watch", "static_configs": targets, "metric_relabel_configs": relabel},
                # Itself, for prometheus_rule_group_iterations_total: the tests count evaluations.
                {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{PROMETHEUS_PORT}"]}]},
            ],
        }))
        self.start("prometheus", "mon", [
            "prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"])
        self.wait_http("mon", f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready", 60)

    # -- HTTP inside a namespace (curl: a fresh process joins the namespace, this one stays put) ---

    def get(self, namespace: str, url: str) -> tuple[int, str]:
        result = self.exec(namespace, ["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", url])
        body, _, code = result.stdout.rpartition("\n")
        return int(code or 0), body

    def wait_http(self, namespace: str, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(namespace, url)[0] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"{url} in {namespace} not ready within {timeout:.0f} s; see {self.tmp}/*.log")

    def query(self, promql: str) -> list[dict]:
        status, body = self.get(
            "mon", f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query?query=" + urllib.parse.quote(promql))
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def alerts(self, name: str) -> list[dict]:
        status, body = self.get("mon", f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/alerts")
        assert status == 200, body
        return [a for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == name]

    def evaluations(self) -> int:
        """How many times Prometheus has evaluated the rule groups so far."""
        result = self.query("sum(prometheus_rule_group_iterations_total)")
        return int(float(result[0]["value"][1])) if result else 0

    # -- teardown ---------------------------------------------------------------------------------

    def close(self) -> None:
        for key in list(self.processes):
            self.stop(key)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        self.namespaces.clear()
