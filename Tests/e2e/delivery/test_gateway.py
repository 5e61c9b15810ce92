"""Traffic: Gateway API first (an HTTPRoute per overlay attached to the shared Gateway, the canary as
weighted backendRefs of production's route), a plain Ingress kept for Ingress clusters, and the
NetworkPolicy that admits the namespaces an overlay's parameters name.

The Gateway API objects are checked structurally against Tests/e2e/schemas/gateway-api-v1.json, a
closed subset of the v1 API written down by hand: no offline copy of the CRDs' OpenAPI schemas was
found (PyPI, Debian), so it is not the CRDs' own schema.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.commands import run
from harness.crd_validation import cel_errors, rule_count
from harness.kubernetes import K8S_DIR, OVERLAYS, kubectl, objects, one, render, selects

pytestmark = pytest.mark.k8s  # make k8s-test

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "gateway-api-v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# overlay -> (namespace, app name, host)
EXPECTED = {"staging": ("staging", "epoch-test", "test.epoch.example.com"),
            "production": ("production", "epoch-app", "epoch.example.com"),
            "canary": ("production", "epoch-canary", "epoch.example.com")}
PUBLIC_PATHS = {"/", "/version", "/sync"}


def gateway() -> dict:
    docs = [d for d in yaml.safe_load_all((K8S_DIR / "gateway" / "gateway.yaml").read_text()) if d]
    return one(docs, "Gateway", "public")


def parameters(overlay: str) -> dict:
    path = K8S_DIR / "overlays" / overlay / "parameters/parameters.yaml"
    return yaml.safe_load(path.read_text())["spec"]


def errors(doc: dict) -> list[str]:
    """The structural schema's errors, then (for a structurally valid object) the CEL rules'."""
    structural = [e.message for e in VALIDATOR.iter_errors(doc)]
    return structural or cel_errors(SCHEMA, doc)


# ------------------------------------------------------------------------------------------------
# Structure
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_api_objects_are_well_formed(overlay: str) -> None:
    routes = [d for d in render(overlay) if d["apiVersion"].startswith("gateway.networking.k8s.io/")]
    assert [d["kind"] for d in routes] == ["HTTPRoute"]
    for doc in routes:
        assert not errors(doc), errors(doc)


def test_example_gateway_is_well_formed() -> None:
    for doc in yaml.safe_load_all((K8S_DIR / "gateway" / "gateway.yaml").read_text()):
        assert not errors(doc), errors(doc)


@pytest.mark.parametrize("change", [
    lambda r: r["spec"]["rules"][0].update(backendRef=r["spec"]["rules"][0].pop("backendRefs")),  # misspelled
    lambda r: r["spec"]["rules"][0]["backendRefs"][0].update(weight=2_000_000),  # above the maximum
    lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(type="Prefix"),  # Ingress's word, not Gateway's
    lambda r: r["spec"]["parentRefs"][0].update(namespace="Not_A_Namespace"),
    lambda r: r.update(apiVersion="gateway.networking.k8s.io/v1beta2"),
    # The CRDs' x-kubernetes-validations (CEL), which no structural schema can say:
    lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(value="sync"),  # not absolute
    lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(value="/a/../version"),
    lambda r: r["spec"]["rules"][0]["backendRefs"][0].pop("port"),  # a Service needs a port
    lambda r: r["spec"]["rules"][0].update(filters=[{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]),
], ids=["typo", "weight", "path-type", "namespace", "api-version",
        "cel-relative-path", "cel-dot-dot", "cel-service-port", "cel-redirect-with-backends"])
def test_structural_check_can_fail(change) -> None:
    route = one(render("production"), "HTTPRoute")
    assert not errors(route), "control: the route as rendered passes"
    change(route)
    assert errors(route)


@pytest.mark.parametrize("change, message", [
    (lambda g: g["spec"]["listeners"][0].update(tls={"mode": "Terminate"}), "tls must not be specified"),
    (lambda g: g["spec"]["listeners"][1]["tls"].update(mode="Passthrough"), "tls mode must be Terminate"),
    (lambda g: g["spec"]["listeners"][1].update(name="http"), "Listener name must be unique"),
], ids=["tls-on-http", "https-passthrough", "duplicate-listener"])
def test_gateway_cel_rules_can_fail(change, message: str) -> None:
    gw = gateway()
    assert not errors(gw), "control: the example Gateway passes"
    change(gw)
    assert any(message in e for e in errors(gw)), errors(gw)


def test_listeners_need_a_unique_port_protocol_and_hostname() -> None:
    """The Gateway CRD's fifth listener rule: a second listener on the same port and protocol needs
    its own hostname. Two copies differ only in that hostname: without it the rule (and only it) fails."""
    def with_second_https(hostname: str | None) -> dict:
        gw = gateway()
        second = json.loads(json.dumps(next(li for li in gw["spec"]["listeners"] if li["name"] == "https")))
        second["name"] = "https-other"
        if hostname:
            second["hostname"] = hostname
        gw["spec"]["listeners"].append(second)
        return gw

    assert not errors(with_second_https("other.example.com")), "control: a distinct hostname passes"
    failed = errors(with_second_https(None))
    assert failed and all("Combination of port, protocol and hostname must be unique" in e for e in failed), failed


def test_the_schema_carries_the_crds_cel_rules() -> None:
    """The schema names its upstream version, and its CEL rules really run (cel-python)."""
    assert "gateway-api" in SCHEMA["$comment"] and "03775165" in SCHEMA["$comment"] and "v1.5" in SCHEMA["$comment"]
    assert rule_count(SCHEMA) >= 15
    route = one(render("production"), "HTTPRoute")
    route["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/a//b"
    assert not [e for e in VALIDATOR.iter_errors(route)], "structurally fine: only the CEL rule can catch it"
    assert any("must not contain '//'" in e for e in cel_errors(SCHEMA, route))


# ------------------------------------------------------------------------------------------------
# Routes
# ------------------------------------------------------------------------------------------------
def selects_namespace(selector: dict, namespace: str) -> bool:
    return selects(selector, {"kubernetes.io/metadata.name": namespace})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_route_attaches_to_the_gateway_and_reaches_the_service(overlay: str) -> None:
    namespace, name, host = EXPECTED[overlay]
    docs = render(overlay)
    [route] = objects(docs, "HTTPRoute")
    assert route["metadata"]["namespace"] == namespace
    assert route["spec"]["hostnames"] == [host]
    gw = gateway()
    [parent] = route["spec"]["parentRefs"]
    assert (parent["name"], parent["namespace"]) == (gw["metadata"]["name"], gw["metadata"]["namespace"])
    [listener] = [li for li in gw["spec"]["listeners"] if li["name"] == parent["sectionName"]]
    assert listener["protocol"] == "HTTPS" and listener["tls"]["mode"] == "Terminate"
    allowed = listener["allowedRoutes"]
    assert allowed["namespaces"]["from"] == "Selector"
    assert selects_namespace(allowed["namespaces"]["selector"], namespace), f"{namespace} may not attach"
    [rule] = route["spec"]["rules"]
    assert {m["path"]["value"] for m in rule["matches"]} == PUBLIC_PATHS
    assert {m["path"]["type"] for m in rule["matches"]} == {"Exact"}, "/metrics, /healthz, /readyz stay inside"
    services = {s["metadata"]["name"]: s for s in objects(docs, "Service")}
    if overlay == "canary":
        services["epoch-app"] = one(render("production"), "Service", "epoch-app")
    for ref in rule["backendRefs"]:
        assert ref.get("kind", "Service") == "Service" and "namespace" not in ref
        svc = services[ref["name"]]
        assert ref["port"] in [p["port"] for p in svc["spec"]["ports"]]


def test_gateway_redirects_plain_http() -> None:
    docs = [d for d in yaml.safe_load_all((K8S_DIR / "gateway" / "gateway.yaml").read_text()) if d]
    redirect = one(docs, "HTTPRoute", "https-redirect")
    assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
    [rule] = redirect["spec"]["rules"]
    assert "backendRefs" not in rule
    assert rule["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]


def test_canary_is_a_weighted_split_of_productions_route() -> None:
    prod_route = one(render("production"), "HTTPRoute", "epoch-app")
    canary_docs = render("canary")
    can_route = one(canary_docs, "HTTPRoute", "epoch-app")
    refs = can_route["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("epoch-app", 90), ("epoch-canary", 10)]
    assert [r["name"] for r in prod_route["spec"]["rules"][0]["backendRefs"]] == ["epoch-app"]
    # The same object but for the backends: applying either overlay leaves the rest as it was.
    for r in (prod_route, can_route):
        r["spec"]["rules"][0].pop("backendRefs")
    assert can_route == prod_route
    # Deleting the canary by its label leaves production's route.
    label = "app.kubernetes.io/instance"
    canary_only = [d for d in canary_docs if d["metadata"]["labels"].get(label) == "epoch-canary"]
    assert {d["kind"] for d in canary_docs} - {d["kind"] for d in canary_only} == {"HTTPRoute"}
    assert can_route["metadata"]["labels"][label] == "epoch-app"


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_plain_ingress_names_no_controller(overlay: str) -> None:
    namespace, name, host = EXPECTED[overlay]
    ingress = one(render(overlay), "Ingress", name)
    assert "ingressClassName" not in ingress["spec"], "the cluster's default IngressClass"
    vendor = ("nginx.", "ingress.kubernetes.io", "traefik.", "haproxy.", "konghq.", "alb.", "kubernetes.io/ingress.class")
    assert not [a for a in ingress["metadata"].get("annotations", {}) if any(v in a for v in vendor)]
    assert {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]} == PUBLIC_PATHS
    assert ingress["spec"]["rules"][0]["host"] == host


# ------------------------------------------------------------------------------------------------
# The NetworkPolicy: one parameter per overlay
# ------------------------------------------------------------------------------------------------
def peer_namespaces(policy: dict) -> list[str]:
    # The rule with namespace peers; Roughtime's UDP rule and the watch's pod rule are the others.
    [rule] = [r for r in policy["spec"]["ingress"] if any("namespaceSelector" in p for p in r.get("from", []))]
    [peer] = rule["from"]
    assert set(peer) == {"namespaceSelector"}, "namespace peers only (kustomize labels a podSelector)"
    [expr] = peer["namespaceSelector"]["matchExpressions"]
    assert (expr["key"], expr["operator"]) == ("kubernetes.io/metadata.name", "In")
    return expr["values"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_the_overlays_namespaces(overlay: str) -> None:
    policy = one(render(overlay), "NetworkPolicy", EXPECTED[overlay][1])
    wanted = parameters(overlay)["ingressNamespaces"]
    assert peer_namespaces(policy) == wanted
    assert gateway()["metadata"]["namespace"] in wanted, "the Gateway's data plane must get in"
    assert "monitoring" in wanted, "and Prometheus"
    assert not [d for d in render(overlay) if d["kind"] == "OverlayParameters"], "local-config: never applied"


def test_one_parameter_changes_the_policy(tmp_path: Path) -> None:
    """Control: edit only the overlay's parameter list; the rendered policy follows it."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy)
    params = copy / "overlays" / "staging" / "parameters" / "parameters.yaml"
    doc = yaml.safe_load(params.read_text())
    doc["spec"]["ingressNamespaces"] = ["ingress-nginx", "monitoring", "envoy-gateway-system"]
    params.write_text(yaml.safe_dump(doc))
    out = run([kubectl(), "kustomize", str(copy / "overlays" / "staging")], env={**os.environ, "KUBECONFIG": "/dev/null"}).stdout
    policy = one([d for d in yaml.safe_load_all(out) if d], "NetworkPolicy", "epoch-test")
    assert peer_namespaces(policy) == ["ingress-nginx", "monitoring", "envoy-gateway-system"]
