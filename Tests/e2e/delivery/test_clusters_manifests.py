"""The fleet's manifests (docs/multi-cluster.md), offline: deploy/k8s/clusters/<cloud>/production for
GKE and EKS, in three parts as the overlay splits them (the app, gateway/, monitoring/: one Flux
Kustomization each), render from the same overlay with the same image digest and differ only by their
components; the Flux objects of deploy/flux/clusters validate against schemas written from Flux's
documented API, closed to unknown fields, with controls that must fail."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.kubernetes import IMAGE
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.clusters  # make clusters-test

K8S = REPO_ROOT / "deploy" / "k8s"
FLUX = REPO_ROOT / "deploy" / "flux"
CLUSTERS = ["gke", "eks"]
PEER = {"gke": "eks", "eks": "gke"}
RELEASE = K8S / "releases" / "production" / "release.yaml"  # the digest only (scripts/release-file)
SCHEMAS = {
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): FLUX / "schemas" / "ocirepository-source.toolkit.fluxcd.io-v1.json",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): FLUX / "schemas" / "kustomization-kustomize.toolkit.fluxcd.io-v1.json",
}
# The parts of each cluster's path (the overlay's core, then its parts that need CRDs), and what each
# part's kustomization lists that is the cluster's own; everything else is shared.
PARTS = ["", "gateway", "monitoring"]
OWN_COMPONENTS = {
    "": ["../component", "cluster"],
    "gateway": ["../../component/gateway", "../../component", "../cluster"],
    "monitoring": ["../../component", "../cluster"],
}
OVERLAY = {"": "../../../overlays/production", "gateway": "../../../../overlays/production/gateway",
           "monitoring": "../../../../overlays/production/monitoring"}


def render(path: Path) -> str:
    result = subprocess.run([os.environ.get("KUBECTL", "kubectl"), "kustomize", str(path)], capture_output=True, text=True,
                            env={**os.environ, "KUBECONFIG": "/dev/null"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def part_path(root: Path, cluster: str, part: str) -> Path:
    return root / "clusters" / cluster / "production" / part


@pytest.fixture(scope="module")
def rendered_parts() -> dict[str, dict[str, list[dict]]]:
    return {c: {p: objects(render(part_path(K8S, c, p))) for p in PARTS} for c in CLUSTERS}


@pytest.fixture(scope="module")
def rendered(rendered_parts) -> dict[str, list[dict]]:
    """Each cluster's objects: what its three Flux Kustomizations apply together."""
    return {c: [d for p in PARTS for d in parts[p]] for c, parts in rendered_parts.items()}


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


@pytest.mark.parametrize("part", PARTS, ids=["app", *PARTS[1:]])
def test_both_clusters_wrap_production_the_same_way(part):
    texts = {c: (part_path(K8S, c, part) / "kustomization.yaml").read_text() for c in CLUSTERS}
    assert texts["gke"] == texts["eks"]
    listed = yaml.safe_load(texts["gke"])
    assert listed["resources"] == [OVERLAY[part]]
    assert set(OWN_COMPONENTS[part]) <= set(listed["components"])


@pytest.mark.parametrize("part", PARTS, ids=["app", *PARTS[1:]])
def test_without_their_components_the_two_clusters_render_identically(tmp_path, part):
    """The control of the claim "they differ only by their components": with the components, they differ."""
    renders = {}
    for cluster in CLUSTERS:
        tree = tmp_path / cluster / "k8s"
        shutil.copytree(K8S, tree)
        path = part_path(tree, cluster, part) / "kustomization.yaml"
        listed = yaml.safe_load(path.read_text())
        listed["components"] = [c for c in listed["components"] if c not in OWN_COMPONENTS[part]]
        path.write_text(yaml.safe_dump(listed))
        renders[cluster] = render(path.parent)
    assert renders["gke"] == renders["eks"]
    assert render(part_path(K8S, "gke", part)) != render(part_path(K8S, "eks", part))


def key(doc: dict) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def test_each_part_carries_the_overlays_part_whole_and_no_object_is_in_two_parts(rendered_parts):
    """Two Flux Kustomizations that apply one object fight over it (and each prunes it when the other
    drops it): the parts must be disjoint. And each must carry everything of the overlay's part (the
    HTTPRoute, the monitors), which a cluster path listing only the core loses."""
    for cluster, parts in rendered_parts.items():
        seen: dict[tuple[str, str], str] = {}
        for part, docs in parts.items():
            for doc in docs:
                assert key(doc) not in seen, f"{cluster}: {key(doc)} in {seen.get(key(doc))!r} and {part!r}"
                seen[key(doc)] = part
        for part in PARTS[1:]:
            overlay = {key(d) for d in objects(render(K8S / "overlays" / "production" / part))}
            assert overlay and overlay <= {key(d) for d in parts[part]}, (cluster, part)
        assert {k for k, p in seen.items() if p != ""} >= {("HTTPRoute", "epoch-app"), ("PodMonitor", "epoch-watch")}
    # The control: the old single path with the overlay's core only has neither.
    core = {key(d) for d in rendered_parts["gke"][""]}
    assert ("HTTPRoute", "epoch-app") not in core and ("PodMonitor", "epoch-watch") not in core


def test_every_namespaced_object_lands_in_production(rendered):
    cluster_scoped = {"Namespace", "GatewayClass"}
    for cluster, docs in rendered.items():
        for doc in docs:
            want = None if doc["kind"] in cluster_scoped else "production"
            assert doc["metadata"].get("namespace") == want, (cluster, key(doc))


def test_every_container_runs_the_release_files_digest(rendered):
    digest = yaml.safe_load(RELEASE.read_text())["spec"]["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    for cluster, docs in rendered.items():
        images = {c["image"] for d in docs if d["kind"] in ("Deployment", "DaemonSet")
                  for c in d["spec"]["template"]["spec"]["containers"]}
        assert images == {f"{IMAGE}@{digest}"}, cluster


def test_each_cloud_component_brings_its_gateway_load_balancer_ipblocks_dns_and_label(rendered):
    # The ipBlocks and the DNS egress come from deploy/k8s/components/<cloud> (issue 21's), by path.
    expect = {
        "gke": {"class": "gke-l7-global-external-managed", "annotation": "cloud.google.com/l4-rbs",
                "lb": {"35.191.0.0/16", "130.211.0.0/22", "10.129.0.0/23"},
                "dns": {"169.254.169.254/32", "169.254.20.10/32"}},
        "eks": {"class": "aws-alb", "annotation": "service.beta.kubernetes.io/aws-load-balancer-type",
                "lb": {"192.168.0.0/16"}, "dns": set()},
    }
    for cluster, docs in rendered.items():
        want = expect[cluster]
        gateway = find(docs, "Gateway", "epoch-public")
        assert gateway["spec"]["gatewayClassName"] == want["class"]
        route = find(docs, "HTTPRoute", "epoch-app")
        assert [p["name"] for p in route["spec"]["parentRefs"]] == ["epoch-public"]
        udp = find(docs, "Service", "epoch-udp")
        assert udp["spec"]["type"] == "LoadBalancer" and {p["protocol"] for p in udp["spec"]["ports"]} == {"UDP"}
        assert want["annotation"] in udp["metadata"]["annotations"]
        assert udp["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/set-identifier"] == cluster
        server_policy = find(docs, "NetworkPolicy", "epoch-app")
        blocks = {p["ipBlock"]["cidr"] for rule in server_policy["spec"]["ingress"] for p in rule.get("from", [])
                  if "ipBlock" in p}
        assert blocks == want["lb"], cluster
        watch_policy = find(docs, "NetworkPolicy", "epoch-watch")
        dns = {p["ipBlock"]["cidr"] for rule in watch_policy["spec"]["egress"] for p in rule["to"] if "ipBlock" in p
               and any(port["port"] == 53 for port in rule["ports"])}
        assert dns == want["dns"], cluster
        for doc in docs:
            assert doc["metadata"].get("labels", {}).get("epoch.example.com/cluster") == cluster, doc["metadata"]["name"]


def watch_sources(docs: list[dict]) -> tuple[list[str], list[str]]:
    container = find(docs, "DaemonSet", "epoch-watch")["spec"]["template"]["spec"]["containers"][0]
    sources = next(e["value"] for e in container["env"] if e["name"] == "EPOCH_WATCH_SOURCES").split()
    args = container["args"]
    keys = [args[i + 1] for i, a in enumerate(args) if a == "--public-key"]
    return sources, keys


def test_each_watch_measures_the_other_cluster_by_the_names_that_cluster_publishes(rendered):
    for cluster, docs in rendered.items():
        sources, keys = watch_sources(docs)
        peer_docs = rendered[PEER[cluster]]
        roughtime = [s for s in sources if s.startswith("roughtime://")]
        assert len(keys) == len(roughtime) == 2  # the watch refuses a count that differs
        peer_route = find(peer_docs, "HTTPRoute", "epoch-app")
        peer_udp = find(peer_docs, "Service", "epoch-udp")
        peer_names = peer_udp["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"].split(",")
        peer_sources = [s for s in sources if "epoch-app" not in s]
        assert {re.sub(r"^https://", "", s) for s in peer_sources if s.startswith("https://")} <= set(peer_route["spec"]["hostnames"])
        assert {re.sub(r"^roughtime://|:2002$", "", s) for s in roughtime if "epoch-app" not in s} <= set(peer_names)
        # Its own key first, the peer's second: the peer cluster pins them the other way round.
        assert watch_sources(peer_docs)[1] == keys[::-1]
        # Every source gets the cluster that serves it, as EpochClustersDisagree needs.
        relabel = find(docs, "PodMonitor", "epoch-watch")["spec"]["podMetricsEndpoints"][0]["metricRelabelings"]
        for source in sources:
            owners = [r["replacement"] for r in relabel if re.fullmatch(r["regex"], source)]
            assert owners == [cluster if "epoch-app" in source or f"-{cluster}." in source or f"//{cluster}." in source
                              else PEER[cluster]], source


def test_the_prometheusrule_carries_the_promtool_tested_groups(rendered):
    tested = yaml.safe_load((REPO_ROOT / "deploy/prometheus/clusters/epoch-clusters-alerts.yaml").read_text())
    for docs in rendered.values():
        assert find(docs, "PrometheusRule", "epoch-clusters")["spec"]["groups"] == tested["groups"]


# -- Flux ------------------------------------------------------------------------------------------

def flux_documents() -> dict[str, list[dict]]:
    return {p.stem: objects(p.read_text()) for p in sorted((FLUX / "clusters").glob("*.yaml"))}


def validate(doc: dict) -> None:
    schema_path = SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    if schema_path is None:
        raise jsonschema.ValidationError(f"no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_every_schema_names_the_upstream_version_it_follows():
    for path in SCHEMAS.values():
        schema = json.loads(path.read_text())
        assert re.search(r"Upstream version followed: Flux v\d+\.\d+", schema["$comment"]), path
        assert schema["additionalProperties"] is False


def test_flux_objects_per_cluster_validate_and_verify_cosign_before_applying():
    documents = flux_documents()
    assert sorted(documents) == ["eks-production", "gke-production"]
    for name, docs in documents.items():
        for doc in docs:
            validate(doc)
        source = next(d for d in docs if d["kind"] == "OCIRepository")
        syncs = [d for d in docs if d["kind"] == "Kustomization"]
        verify = source["spec"]["verify"]
        assert verify["provider"] == "cosign" and verify["matchOIDCIdentity"][0]["issuer"].startswith("^https://token")
        cloud = name.split("-")[0]
        # One Kustomization per part; the parts after the app, which has no dependency.
        assert [s["spec"]["path"] for s in syncs] == [f"./deploy/k8s/clusters/{cloud}/production" + (f"/{p}" if p else "")
                                                      for p in PARTS]
        app = syncs[0]["metadata"]["name"]
        assert "dependsOn" not in syncs[0]["spec"]
        for sync in syncs:
            assert sync["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": source["metadata"]["name"]}
            assert sync["spec"]["prune"] is True and sync["spec"]["wait"] is True
            assert (REPO_ROOT / sync["spec"]["path"] / "kustomization.yaml").is_file()
        for sync in syncs[1:]:
            assert sync["spec"]["dependsOn"] == [{"name": app}]


def _mutations():
    """Each edit makes an object Flux's API rejects (or silently drops a field of): must not validate."""
    def set_at(path, value):
        def edit(doc):
            node = doc
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return edit

    def delete_at(path):
        def edit(doc):
            node = doc
            for key in path[:-1]:
                node = node[key]
            del node[path[-1]]
        return edit

    return [
        ("OCIRepository", "unknown spec field", set_at(["spec", "intervall"], "5m")),
        ("OCIRepository", "unknown verify field", set_at(["spec", "verify", "identity"], "x")),
        ("OCIRepository", "unknown top-level field", set_at(["specs"], {})),
        ("OCIRepository", "verify provider not cosign/notation", set_at(["spec", "verify", "provider"], "gpg")),
        ("OCIRepository", "url without oci://", set_at(["spec", "url"], "https://example.com/x")),
        ("OCIRepository", "interval not a duration", set_at(["spec", "interval"], "5 minutes")),
        ("OCIRepository", "identity without subject", delete_at(["spec", "verify", "matchOIDCIdentity", 0, "subject"])),
        ("OCIRepository", "older apiVersion", set_at(["apiVersion"], "source.toolkit.fluxcd.io/v1beta2")),
        ("Kustomization", "prune missing", delete_at(["spec", "prune"])),
        ("Kustomization", "unknown spec field", set_at(["spec", "prunee"], True)),
        ("Kustomization", "sourceRef kind unknown", set_at(["spec", "sourceRef", "kind"], "HelmRepository")),
        ("Kustomization", "wait not a boolean", set_at(["spec", "wait"], "yes")),
        ("Kustomization", "dependsOn entry without name", set_at(["spec", "dependsOn"], [{"nmae": "epoch-production"}])),
    ]


@pytest.mark.parametrize("kind,what,edit", _mutations(), ids=[m[1] for m in _mutations()])
def test_schema_controls_fail(kind, what, edit):
    doc = copy.deepcopy(next(d for d in flux_documents()["gke-production"] if d["kind"] == kind))
    validate(doc)  # the original passes: only the edit differs
    edit(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
