"""The deployer's `patch` on its Deployment narrowed to the image: deploy/k8s/admission's
ValidatingAdmissionPolicy, its CEL evaluated by cel-python against allowed and refused updates, its
field lists checked against Kubernetes 1.30's schema, and the deploy path against an API server
that admits with it."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from harness.admission import PolicyEvaluator
from harness.commands import run
from harness.deploy import deploy_script, installed_cluster, kubeconfig_script, live_deployment
from harness.kubernetes import IMAGE, K8S_DIR, core_text, kubectl, objects, one, render

pytestmark = pytest.mark.k8s  # make k8s-test

POLICY_FILE = K8S_DIR / "admission" / "image-only-policy.yaml"
# The policies as `kubectl apply -k deploy/k8s/admission` applies them: the image from the table.
DOCS = [d for d in yaml.safe_load_all(run([kubectl(), "kustomize", str(K8S_DIR / "admission")],
                                          env={**os.environ, "KUBECONFIG": "/dev/null"}).stdout) if d]
POLICY = one(DOCS, "ValidatingAdmissionPolicy", "epoch-deployer-image-only")
BINDING = one(DOCS, "ValidatingAdmissionPolicyBinding", "epoch-deployer-image-only")
WATCH_POLICY = one(DOCS, "ValidatingAdmissionPolicy", "epoch-deployer-watch-image-only")
EVALUATOR = PolicyEvaluator(POLICY)
WATCH_EVALUATOR = PolicyEvaluator(WATCH_POLICY)
DEPLOYER = "system:serviceaccount:staging:deployer"
REPOSITORY = IMAGE  # from the table of environments
OLD = f"{REPOSITORY}@sha256:" + "cd" * 32
NEW = f"{REPOSITORY}@sha256:" + "ab" * 32


def live() -> dict:
    dep = one(render("staging"), "Deployment", "epoch-test")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = OLD
    return live_deployment(dep, 5)


def pod(d: dict) -> dict:
    return d["spec"]["template"]["spec"]


def container(d: dict) -> dict:
    return pod(d)["containers"][0]


def verdict(change, username: str = DEPLOYER):
    old = live()
    new = copy.deepcopy(old)
    change(new)
    return EVALUATOR.evaluate(old, new, username, "staging")


# ------------------------------------------------------------------------------------------------
# The objects
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.30.0", "1.34.0"])
def test_policy_validates_strictly(version: str) -> None:
    # The Deployment's policy and binding, and the watch DaemonSet's.
    assert sorted(d["kind"] for d in DOCS) == ["ValidatingAdmissionPolicy"] * 2 + ["ValidatingAdmissionPolicyBinding"] * 2
    for doc in DOCS:
        assert "namespace" not in doc["metadata"], "cluster-scoped"
        kubernetes_validate.validate(doc, version, strict=True)


def test_binding_covers_the_deployers_namespaces() -> None:
    assert BINDING["spec"]["policyName"] == POLICY["metadata"]["name"]
    assert BINDING["spec"]["validationActions"] == ["Deny"] and POLICY["spec"]["failurePolicy"] == "Fail"
    selector = BINDING["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
    for overlay in ("staging", "production"):
        ns = one(render(overlay), "Namespace")
        assert all(ns["metadata"]["labels"].get(k) == v for k, v in selector.items()), overlay
    [rule] = POLICY["spec"]["matchConstraints"]["resourceRules"]
    assert rule == {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["deployments"]}


def test_image_rule_names_the_overlays_repository() -> None:
    for overlay in ("staging", "production", "canary"):
        image = container(one(render(overlay), "Deployment"))["image"]
        assert image.rsplit(":", 1)[0] == REPOSITORY
    for policy in (POLICY, WATCH_POLICY):
        [variable] = [v for v in policy["spec"]["variables"] if v["name"] == "repository"]
        assert variable["expression"] == f"'{REPOSITORY}'", "the policies accept the table's image"


@pytest.mark.parametrize("registry", ["ghcr.io/owner", "registry.example.test:5000", IMAGE.split("/")[0]])
def test_image_rule_follows_any_registry_of_the_table(registry: str) -> None:
    """A registry with a port or a path (the table's spec.image) is accepted exactly: its digests are
    admitted, a digest of a look-alike name is not (a regular expression of the name would need escaping)."""
    policy = copy.deepcopy(POLICY)
    image = f"{registry}/swift-microepoch"
    [variable] = [v for v in policy["spec"]["variables"] if v["name"] == "repository"]
    variable["expression"] = f"'{image}'"
    evaluator = PolicyEvaluator(policy)
    old = live()
    for c in pod(old)["containers"]:
        c["image"] = f"{image}@sha256:" + "cd" * 32
    for candidate, admitted in [(f"{image}@sha256:" + "ab" * 32, True),
                                (f"{image}x@sha256:" + "ab" * 32, False),
                                (f"{image}:main", False),
                                (f"evil.example/{image}@sha256:" + "ab" * 32, False)]:
        new = copy.deepcopy(old)
        container(new)["image"] = candidate
        assert evaluator.evaluate(old, new, DEPLOYER, "staging").admitted is admitted, candidate


def schema_fields(version: str, name: str) -> set[str]:
    path = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict" / f"{name}.json"
    return set(json.loads(path.read_text())["properties"])


def compared(variable: str) -> set[str]:
    expressions = "\n".join(v["expression"] for v in POLICY["spec"]["validations"])
    return set(re.findall(rf"has\({re.escape(variable)}\.(\w+)\)", expressions))


def test_every_field_of_kubernetes_1_30_is_compared() -> None:
    assert compared("variables.nd") == schema_fields("1.30.0", "deploymentspec-apps-v1") - {"template"}
    assert compared("variables.nd.template") == {"metadata"}
    assert compared("variables.n") == schema_fields("1.30.0", "podspec-v1") - {"containers"}
    assert compared("c") == schema_fields("1.30.0", "container-v1") - {"image"}


def test_fields_newer_than_1_30_are_the_documented_gap() -> None:
    """Naming a field the 1.30 schema lacks would not compile there; the policy's comment names these."""
    new_pod = schema_fields("1.34.0", "podspec-v1") - schema_fields("1.30.0", "podspec-v1")
    new_container = schema_fields("1.34.0", "container-v1") - schema_fields("1.30.0", "container-v1")
    assert new_pod == {"hostnameOverride", "resources"} and new_container == {"restartPolicyRules"}
    header = POLICY_FILE.read_text().split("apiVersion:")[0]
    for field in new_pod | new_container:
        assert field in header


# ------------------------------------------------------------------------------------------------
# The CEL, allowed and refused
# ------------------------------------------------------------------------------------------------
ALLOWED = {
    "new-digest": lambda d: container(d).update(image=NEW),
    "no-change": lambda d: None,
    "deployment-annotation": lambda d: d["metadata"]["annotations"].update({"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
    # A label of the Deployment that its selector does not use (the selector's are refused below).
    "other-label": lambda d: d["metadata"].setdefault("labels", {}).update({"example.com/note": "x"}),
}
REFUSED = {
    "env": lambda d: container(d)["env"].append({"name": "EPOCH_EXTRA", "value": "1"}),
    "secret-env": lambda d: container(d)["env"].append({"name": "T", "valueFrom": {"secretKeyRef": {"name": "deployer-token", "key": "token"}}}),
    "command": lambda d: container(d).update(command=["/bin/sh"]),
    "image-tag": lambda d: container(d).update(image=f"{REPOSITORY}:latest"),
    "image-elsewhere": lambda d: container(d).update(image="evil.example/swift-microepoch@sha256:" + "ab" * 32),
    "service-account": lambda d: pod(d).update(serviceAccountName="deployer"),
    "token-mount": lambda d: pod(d).update(automountServiceAccountToken=True),
    "node-selector": lambda d: pod(d).update(nodeSelector={"node-role.kubernetes.io/control-plane": ""}),
    "volume": lambda d: pod(d).update(volumes=[{"name": "t", "secret": {"secretName": "deployer-token"}}]),
    "init-container": lambda d: pod(d).update(initContainers=[{"name": "x", "image": NEW}]),
    "sidecar": lambda d: pod(d)["containers"].append({"name": "x", "image": NEW}),
    "rename": lambda d: container(d).update(name="other"),
    "replicas": lambda d: d["spec"].update(replicas=0),
    "template-label": lambda d: d["spec"]["template"]["metadata"]["labels"].update(extra="1"),
    "resources": lambda d: container(d)["resources"]["limits"].update(memory="8Gi"),
    "paused": lambda d: d["spec"].update(paused=True),
    # The object's own metadata: an owner that does not exist lets the garbage collector delete the
    # Deployment; a finalizer nobody removes blocks its deletion; the selector's labels find it.
    "owner-reference": lambda d: d["metadata"].update(ownerReferences=[{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "00000000-0000-0000-0000-00000000dead"}]),
    "finalizer": lambda d: d["metadata"].update(finalizers=["example.com/never"]),
    "selector-label": lambda d: d["metadata"]["labels"].update({"app.kubernetes.io/instance": "other"}),
    "selector-label-removed": lambda d: d["metadata"]["labels"].pop("app.kubernetes.io/name"),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_deployer_may_change_the_image(name: str) -> None:
    v = verdict(ALLOWED[name])
    assert v.matched and v.admitted, v.refused


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_deployer_may_change_nothing_else(name: str) -> None:
    v = verdict(REFUSED[name])
    assert v.matched and v.refused, f"{name} was admitted"


@pytest.mark.parametrize("name", ["env", "service-account", "replicas"])
def test_policy_leaves_other_users_alone(name: str) -> None:
    """Control: the same updates by an administrator (or the HPA) are not the policy's business."""
    for user in ("kubernetes-admin", "system:serviceaccount:production:deployer-bot",
                 "system:serviceaccount:production:deployer"):  # another namespace's deployer
        v = verdict(REFUSED[name], username=user)
        assert not v.matched and v.admitted, user


# ------------------------------------------------------------------------------------------------
# The deploy path against an API server that admits with the policy
# ------------------------------------------------------------------------------------------------
def run_deploy(tmp_path: Path, live_dep: dict, admit) -> tuple:
    docs = [d for d in yaml.safe_load_all(core_text("staging")) if d]
    docs = [d for d in docs if d["kind"] != "Deployment"] + [live_dep]
    for ds in objects(docs, "DaemonSet"):
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = OLD
    role = one(docs, "Role", "deployer")
    token = secrets.token_urlsafe(32)
    with installed_cluster(tmp_path / "tls", docs, {token: [role]}, admit=admit) as api:
        cfg = tmp_path / "config"
        assert kubeconfig_script(tmp_path, KUBE_SERVER=api.url, KUBE_TOKEN=token, KUBE_NAMESPACE="staging",
                                 KUBE_CA=base64.b64encode(api.ca_file.read_bytes()).decode(),
                                 KUBECONFIG_OUT=str(cfg)).returncode == 0
        proc = deploy_script(check=False, ENV="staging", IMAGE_REF=NEW, APPLY="0", KUBECONFIG=str(cfg),
                             ROLLOUT_TIMEOUT="30s")
    return proc, api


def admit_as_deployer(old: dict, new: dict, username: str = DEPLOYER) -> bool:
    evaluator = WATCH_EVALUATOR if old["kind"] == "DaemonSet" else EVALUATOR
    return evaluator.evaluate(old, new, username, "staging").admitted


def deployment_of(api) -> dict:
    return api.get("Deployment", "epoch-test", "staging")


def test_apply_of_a_new_digest_is_admitted(tmp_path: Path) -> None:
    proc, api = run_deploy(tmp_path, live(), admit_as_deployer)
    assert proc.returncode == 0, proc.stderr
    assert container(deployment_of(api))["image"] == NEW and not api.refused
    assert container(api.get("DaemonSet", "epoch-watch", "staging"))["image"] == NEW, "the watch follows the release"


def test_apply_that_changes_more_than_the_image_is_refused(tmp_path: Path) -> None:
    """The cluster runs a Deployment whose pod differs from the overlay (someone changed the
    manifests): CI's apply would change that too, and the policy refuses it; an admin applies it."""
    drifted = live()
    container(drifted)["env"][0]["value"] = "127.0.0.1"
    proc, api = run_deploy(tmp_path, drifted, admit_as_deployer)
    assert proc.returncode != 0 and api.refused
    assert container(deployment_of(api))["image"] == OLD
    # Control: the same apply without the policy goes through.
    proc, api = run_deploy(tmp_path / "control", drifted, None)
    assert proc.returncode == 0 and container(deployment_of(api))["image"] == NEW


# ------------------------------------------------------------------------------------------------
# The optional admission-time signature check (sigstore policy-controller)
# ------------------------------------------------------------------------------------------------
CIP_FILE = K8S_DIR / "admission" / "optional" / "sigstore-cluster-image-policy.yaml"


def rendered_cip() -> dict:
    """The ClusterImagePolicy as `kubectl apply -k deploy/k8s/admission/optional` applies it."""
    out = run([kubectl(), "kustomize", str(CIP_FILE.parent)], env={**os.environ, "KUBECONFIG": "/dev/null"}).stdout
    [cip] = [d for d in yaml.safe_load_all(out) if d]
    return cip
# A closed structural schema of the ClusterImagePolicy fields this file uses (policy.sigstore.dev/v1beta1,
# written down from the policy-controller documentation; not the CRD's own schema).
CIP_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "policy.sigstore.dev/v1beta1"}, "kind": {"const": "ClusterImagePolicy"},
        "metadata": {"type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}}},
        "spec": {"type": "object", "required": ["images", "authorities"], "additionalProperties": False, "properties": {
            "images": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["glob"],
                                                                 "additionalProperties": False, "properties": {"glob": {"type": "string"}}}},
            "authorities": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "properties": {
                    "keyless": {"type": "object", "required": ["url", "identities"], "additionalProperties": False, "properties": {
                        "url": {"type": "string", "pattern": "^https://"},
                        "identities": {"type": "array", "minItems": 1, "items": {
                            "type": "object", "additionalProperties": False,
                            "properties": {"issuer": {"type": "string"}, "issuerRegExp": {"type": "string"},
                                           "subject": {"type": "string"}, "subjectRegExp": {"type": "string"}}}}}},
                    "ctlog": {"type": "object", "additionalProperties": False, "properties": {"url": {"type": "string", "pattern": "^https://"}}}}}}}},
    },
}


def test_cluster_image_policy_is_well_formed_and_fails_on_a_typo() -> None:
    import jsonschema
    cip = rendered_cip()
    jsonschema.validate(cip, CIP_SCHEMA)
    bad = copy.deepcopy(cip)
    bad["spec"]["authorities"][0]["keyless"]["identity"] = bad["spec"]["authorities"][0]["keyless"].pop("identities")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CIP_SCHEMA)


def test_cluster_image_policy_trusts_exactly_release_yml_on_staging_and_main() -> None:
    import fnmatch
    cip = rendered_cip()
    [identity] = cip["spec"]["authorities"][0]["keyless"]["identities"]
    assert identity["issuer"] == "https://token.actions.githubusercontent.com"
    subject = re.compile(identity["subjectRegExp"])
    base = "https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/"
    assert subject.fullmatch(base + "heads/main") and subject.fullmatch(base + "heads/staging")
    for other in (base + "heads/feature", base + "tags/v1.2.3",  # control: what must not be trusted
                  "https://github.com/OWNER/REPO/.github/workflows/ci.yml@refs/heads/main",
                  "https://github.com/EVIL/REPO/.github/workflows/release.yml@refs/heads/main",
                  "https://githubXcom/OWNER/REPO/.github/workflows/release.yml@refs/heads/main"):
        assert not subject.fullmatch(other), other
    # The same identity release.yml's deploy job verifies: https://github.com/$GITHUB_WORKFLOW_REF.
    assert 'identity="https://github.com/$GITHUB_WORKFLOW_REF"' in (K8S_DIR.parents[1] / "scripts" / "release-deploy").read_text()
    [glob] = [i["glob"] for i in cip["spec"]["images"]]
    for overlay in ("staging", "production", "canary"):
        image = container(one(render(overlay), "Deployment"))["image"]
        assert fnmatch.fnmatch(image.rsplit(":", 1)[0] + "@sha256:" + "ab" * 32, glob.replace("**", "*"))


# ------------------------------------------------------------------------------------------------
# The watch DaemonSet's policy (scripts/deploy pins it to the release's digest)
# ------------------------------------------------------------------------------------------------
def live_watch() -> dict:
    ds = one(render("staging"), "DaemonSet", "epoch-watch")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = OLD
    return live_deployment(ds)


def test_watch_policy_compares_every_daemonset_field_of_kubernetes_1_30() -> None:
    [rule] = WATCH_POLICY["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["daemonsets"] and rule["operations"] == ["UPDATE"]
    expressions = "\n".join(v["expression"] for v in WATCH_POLICY["spec"]["validations"])
    spec_fields = set(re.findall(r"has\(variables\.nd\.(\w+)\)", expressions))
    assert spec_fields == schema_fields("1.30.0", "daemonsetspec-apps-v1") - {"template"}
    assert set(re.findall(r"has\(variables\.n\.(\w+)\)", expressions)) == schema_fields("1.30.0", "podspec-v1") - {"containers"}
    binding = one(DOCS, "ValidatingAdmissionPolicyBinding", "epoch-deployer-watch-image-only")
    assert binding["spec"]["policyName"] == "epoch-deployer-watch-image-only"
    assert binding["spec"]["matchResources"] == BINDING["spec"]["matchResources"]


@pytest.mark.parametrize("change, admitted", [
    (lambda d: container(d).update(image=NEW), True),
    (lambda d: None, True),
    (lambda d: container(d).update(image=f"{REPOSITORY}:latest"), False),
    (lambda d: pod(d).update(hostNetwork=True), False),
    (lambda d: container(d)["env"].append({"name": "X", "value": "1"}), False),
    (lambda d: d["spec"].update(updateStrategy={"type": "OnDelete"}), False),
    (lambda d: d["metadata"].update(finalizers=["example.com/never"]), False),
], ids=["new-digest", "no-change", "tag", "host-network", "env", "update-strategy", "finalizer"])
def test_watch_policy_admits_the_image_only(change, admitted: bool) -> None:
    old = live_watch()
    new = copy.deepcopy(old)
    change(new)
    verdict_ = WATCH_EVALUATOR.evaluate(old, new, DEPLOYER, "staging")
    assert verdict_.matched and verdict_.admitted is admitted, verdict_.refused
