"""The per-cloud components (deploy/k8s/components/gke, components/eks), included next to an overlay
the way a per-cloud path (clusters/<cloud>/<env>/) does: the watch keeps DNS on GKE (Cloud DNS on
169.254.169.254, NodeLocal DNSCache on 169.254.20.10), and the server admits the managed load
balancers' source addresses (Google front ends and the proxy-only subnet; the AWS load balancer's
VPC addresses). Each is decided by evaluating the rendered NetworkPolicies for a packet; the overlay
without the component is the control that must refuse the same packet.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import pytest
import yaml

from harness.commands import run
from harness.kubernetes import K8S_DIR, kubectl

pytestmark = pytest.mark.k8s  # make k8s-test

GKE_DNS = ["169.254.169.254", "169.254.20.10"]
GKE_LB = ["35.191.3.4", "130.211.1.2", "10.129.0.9"]
EKS_LB = ["192.168.33.10"]


def render_with(tmp_path: Path, overlay: str, component: str | None) -> list[dict]:
    """kubectl kustomize of clusters/<cloud>/<overlay>-component-only: the overlay plus the component."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy)
    # A directory of its own: clusters/<cloud>/production is the fleet's (docs/multi-cluster.md).
    cluster = copy / "clusters" / (component or "plain") / f"{overlay}-component-only"
    cluster.mkdir(parents=True)
    spec = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [f"../../../overlays/{overlay}"]}
    if component:
        spec["components"] = [f"../../../components/{component}"]
    (cluster / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    out = run([kubectl(), "kustomize", str(cluster)], env={**os.environ, "KUBECONFIG": "/dev/null"}).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def policy(docs: list[dict], component: str) -> dict:
    [p] = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    return p


def port_matches(rule: dict, port, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") in (port, None) for p in ports)


def ip_admitted(peers: list[dict], address: str) -> bool:
    """Whether an ipBlock peer of the rule takes `address` (pod and namespace selectors never match
    an address outside the cluster's pods: a node, a metadata server or a load balancer)."""
    ip = ipaddress.ip_address(address)
    for peer in peers:
        block = peer.get("ipBlock")
        if block and ip in ipaddress.ip_network(block["cidr"]) \
                and not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
            return True
    return False


def egress_allows(p: dict, address: str, port: int, protocol: str) -> bool:
    return any(port_matches(r, port, protocol) and ip_admitted(r.get("to", []), address) for r in p["spec"].get("egress", []))


def ingress_allows(p: dict, address: str, port, protocol: str = "TCP") -> bool:
    return any(port_matches(r, port, protocol) and ip_admitted(r.get("from", []), address) for r in p["spec"].get("ingress", []))


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_gke_keeps_the_watchs_dns(tmp_path: Path, overlay: str) -> None:
    watch = policy(render_with(tmp_path / "gke", overlay, "gke"), "watch")
    for address in GKE_DNS:
        for protocol in ("UDP", "TCP"):
            assert egress_allows(watch, address, 53, protocol), f"{address} {protocol}/53"
    assert not egress_allows(watch, "8.8.8.8", 53, "UDP"), "DNS anywhere else stays closed"
    assert not egress_allows(watch, "169.254.169.254", 80, "TCP"), "the metadata server's other ports stay closed"
    # Control: the overlay alone reaches DNS in kube-system only.
    plain = policy(render_with(tmp_path / "plain", overlay, None), "watch")
    assert not any(egress_allows(plain, a, 53, "UDP") for a in GKE_DNS)


@pytest.mark.parametrize("component, addresses", [("gke", GKE_LB), ("eks", EKS_LB)])
def test_managed_load_balancers_reach_the_server(tmp_path: Path, component: str, addresses: list[str]) -> None:
    server = policy(render_with(tmp_path / component, "production", component), "server")
    for address in addresses:
        assert ingress_allows(server, address, "http"), f"{component}: {address} -> http"
        assert not ingress_allows(server, address, 2002, "UDP"), "only the HTTP port"
    assert not ingress_allows(server, "203.0.113.7", "http"), "the internet at large stays out"
    # Control: the overlay alone admits pods of named namespaces only: every request is a 502.
    plain = policy(render_with(tmp_path / "plain", "production", None), "server")
    assert not any(ingress_allows(plain, a, "http") for a in addresses)
