"""epoch watch (deploy/k8s/watch) as the staging and production overlays render it: the DaemonSet's
EPOCH_WATCH_SOURCES names a Service of the same rendering on a port that Service exposes, the app's
NetworkPolicy admits the watch's pods on the port behind it (and the watch's own policy lets them
out to it), and the app's and the watch's selectors each pick their own pods only. Control: the
canary overlay renders no watch; and the selector check refuses pods without the watch's labels."""
from __future__ import annotations

import urllib.parse

import pytest

from harness.kubernetes import objects, one, render, selects, selects_map

pytestmark = pytest.mark.k8s  # make k8s-test

WITH = ("staging", "production")


def port_matches(policy_port: dict, container_port: dict) -> bool:
    """A NetworkPolicy port entry against a container port (by name or number; TCP unless named)."""
    if policy_port.get("protocol", "TCP") != container_port.get("protocol", "TCP"):
        return False
    if "port" not in policy_port:
        return True  # every port
    return policy_port["port"] in (container_port.get("name"), container_port["containerPort"])


def admits_ingress(policy: dict, pod_labels: dict, container_port: dict) -> bool:
    """Some ingress rule admits pods of the policy's own namespace carrying pod_labels on container_port."""
    for rule in policy["spec"].get("ingress", []):
        peers = rule.get("from")
        from_pod = peers is None or any(
            "podSelector" in p and "namespaceSelector" not in p and "ipBlock" not in p
            and selects(p["podSelector"], pod_labels) for p in peers)
        on_port = "ports" not in rule or any(port_matches(p, container_port) for p in rule["ports"])
        if from_pod and on_port:
            return True
    return False


def admits_egress(policy: dict, pod_labels: dict, container_port: dict) -> bool:
    """Some egress rule lets the policy's pods out to pods of its namespace with pod_labels on container_port."""
    for rule in policy["spec"].get("egress", []):
        peers = rule.get("to")
        to_pod = peers is None or any(
            "podSelector" in p and "namespaceSelector" not in p and "ipBlock" not in p
            and selects(p["podSelector"], pod_labels) for p in peers)
        on_port = "ports" not in rule or any(port_matches(p, container_port) for p in rule["ports"])
        if to_pod and on_port:
            return True
    return False


def policies_of(docs: list[dict], pod_labels: dict) -> list[dict]:
    return [p for p in objects(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], pod_labels)]


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"]["labels"]


def watch_of(docs: list[dict]) -> tuple[dict, list[str]]:
    [ds] = objects(docs, "DaemonSet")
    [c] = ds["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    return ds, env["EPOCH_WATCH_SOURCES"].replace(",", " ").split()


@pytest.mark.parametrize("overlay", WITH)
def test_the_watch_measures_its_overlays_service_and_the_policies_let_it_through(overlay: str) -> None:
    docs = render(overlay)
    ds, sources = watch_of(docs)
    namespace = ds["metadata"]["namespace"]
    watch_pods = pod_labels(ds)
    [dep] = objects(docs, "Deployment")
    server_pods = pod_labels(dep)
    [server] = dep["spec"]["template"]["spec"]["containers"]
    assert sources, "EPOCH_WATCH_SOURCES names no source"
    for source in sources:
        url = urllib.parse.urlsplit(source)
        assert url.scheme == "http", source
        name, *rest = url.hostname.split(".")
        assert rest in ([], [namespace], [namespace, "svc"], [namespace, "svc", "cluster", "local"]), source
        # A Service of this rendering, in the watch's namespace, on a port it exposes.
        svc = one(docs, "Service", name)
        assert svc["metadata"]["namespace"] == namespace
        [svc_port] = [p for p in svc["spec"]["ports"] if p["port"] == (url.port or 80)]
        assert svc_port.get("protocol", "TCP") == "TCP", source
        # ... whose selector picks the server's pods, and whose targetPort is a port of the server.
        assert selects_map(svc["spec"]["selector"], server_pods)
        [target] = [p for p in server["ports"]
                    if svc_port["targetPort"] in (p.get("name"), p["containerPort"]) and p.get("protocol", "TCP") == "TCP"]
        # Every policy on the server's pods admits the watch's pods there (policies add up: one is
        # enough, but the app's own policy is the one meant to), and the watch's own policies let them out.
        server_policies = policies_of(docs, server_pods)
        assert [p["metadata"]["name"] for p in server_policies] == [dep["metadata"]["name"]]
        assert admits_ingress(server_policies[0], watch_pods, target), f"{source}: the app's policy refuses the watch"
        watch_policies = policies_of(docs, watch_pods)
        assert watch_policies, "the watch's pods have a policy of their own"
        assert any(admits_egress(p, server_pods, target) for p in watch_policies), f"{source}: the watch may not go out"
        # Control: the check refuses pods without the watch's component label, and other ports.
        stranger = {k: v for k, v in watch_pods.items() if k != "app.kubernetes.io/component"}
        assert not admits_ingress(server_policies[0], stranger, target)
        assert not admits_ingress(server_policies[0], watch_pods, {"name": "metrics", "containerPort": 9471})


@pytest.mark.parametrize("overlay", WITH)
def test_app_and_watch_select_their_own_pods_only(overlay: str) -> None:
    docs = render(overlay)
    ds, _ = watch_of(docs)
    watch_pods = pod_labels(ds)
    [dep] = objects(docs, "Deployment")
    server_pods = pod_labels(dep)
    name = dep["metadata"]["name"]
    app_selectors = {
        "Service": {"matchLabels": one(docs, "Service", name)["spec"]["selector"]},
        "Deployment": dep["spec"]["selector"],
        "PodDisruptionBudget": one(docs, "PodDisruptionBudget", name)["spec"]["selector"],
        "NetworkPolicy": one(docs, "NetworkPolicy", name)["spec"]["podSelector"],
    }
    for kind, selector in app_selectors.items():
        assert selects(selector, server_pods) and not selects(selector, watch_pods), kind
    watch_selectors = {
        "DaemonSet": ds["spec"]["selector"],
        "PodMonitor": one(docs, "PodMonitor", "epoch-watch")["spec"]["selector"],
        "NetworkPolicy": one(docs, "NetworkPolicy", "epoch-watch")["spec"]["podSelector"],
    }
    for kind, selector in watch_selectors.items():
        assert selects(selector, watch_pods) and not selects(selector, server_pods), kind
    # The ServiceMonitor scrapes the server through the app's Service (by its labels), not the watch.
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert selects(monitor["selector"], one(docs, "Service", name)["metadata"]["labels"])
    assert monitor["endpoints"][0]["port"] in [p["name"] for p in one(docs, "Service", name)["spec"]["ports"]]


def test_control_canary_renders_no_watch() -> None:
    docs = render("canary")
    assert not objects(docs, "DaemonSet")
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert not [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "watch"]


# kube-prometheus-stack's Prometheus, with the chart's default values (serviceMonitorSelector,
# podMonitorSelector and ruleSelector nil, *SelectorNilUsesHelmValues true), selects monitors and
# rules by the label `release: <Helm release name>`; its documentation installs the release
# `kube-prometheus-stack`.
KUBE_PROMETHEUS_STACK_SELECTOR = {"matchLabels": {"release": "kube-prometheus-stack"}}  # a LabelSelector (harness.kubernetes.selects)
OPERATOR_KINDS = ("PodMonitor", "ServiceMonitor", "PrometheusRule")


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_kube_prometheus_stack_selects_our_monitors_and_rules(overlay: str) -> None:
    docs = render(overlay)
    found = [d for d in docs if d["kind"] in OPERATOR_KINDS]
    assert sorted(d["kind"] for d in found) == sorted(OPERATOR_KINDS)
    for d in found:
        assert selects(KUBE_PROMETHEUS_STACK_SELECTOR, d["metadata"].get("labels", {})), \
            f"{d['kind']}/{d['metadata']['name']}: kube-prometheus-stack would scrape nothing and load no alert"
    # Control: the same objects without the label are not selected.
    bare = {k: v for k, v in found[0]["metadata"]["labels"].items() if k != "release"}
    assert not selects(KUBE_PROMETHEUS_STACK_SELECTOR, bare)
