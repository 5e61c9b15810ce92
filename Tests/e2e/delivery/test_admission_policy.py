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
from harness.deploy import ApplyingAPIServer, deploy_script, kubeconfig_script, live_deployment
from harness.kubernetes import K8S_DIR, kubectl, one, render

pytestmark = pytest.mark.k8s  # make k8s-test

POLICY_FILE = K8S_DIR / "admission" / "image-only-policy.yaml"
DOCS = [d for d in yaml.safe_load_all(POLICY_FILE.read_text()) if d]
POLICY = one(DOCS, "ValidatingAdmissionPolicy")
BINDING = one(DOCS, "ValidatingAdmissionPolicyBinding")
EVALUATOR = PolicyEvaluator(POLICY)
DEPLOYER = "system:serviceaccount:staging:deployer"
REPOSITORY = "registry.epoch.example.com/swift-microepoch"
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
    rendered = [d for d in yaml.safe_load_all(run([kubectl(), "kustomize", str(K8S_DIR / "admission")],
                                                   env={**os.environ, "KUBECONFIG": "/dev/null"}).stdout) if d]
    assert [d["kind"] for d in rendered] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    for doc in rendered:
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
    text = POLICY_FILE.read_text()
    for overlay in ("staging", "production", "canary"):
        image = container(one(render(overlay), "Deployment"))["image"]
        assert image.rsplit(":", 1)[0] == REPOSITORY
    assert "'^" + REPOSITORY.replace(".", "[.]") + "@sha256:[0-9a-f]{64}$'" in text


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
    docs = render("staging")
    role = one(docs, "Role", "deployer")
    token = secrets.token_urlsafe(32)
    (tmp_path / "tls").mkdir(parents=True)
    with ApplyingAPIServer(tmp_path / "tls", token, role, live_dep, admit) as api:
        cfg = tmp_path / "config"
        assert kubeconfig_script(tmp_path, KUBE_SERVER=api.url, KUBE_TOKEN=token, KUBE_NAMESPACE="staging",
                                 KUBE_CA=base64.b64encode(api.ca_file.read_bytes()).decode(),
                                 KUBECONFIG_OUT=str(cfg)).returncode == 0
        proc = deploy_script(check=False, ENV="staging", IMAGE_REF=NEW, APPLY="0", KUBECONFIG=str(cfg),
                             ROLLOUT_TIMEOUT="30s")
    return proc, api


def admit_as_deployer(old: dict, new: dict) -> bool:
    return EVALUATOR.evaluate(old, new, DEPLOYER, "staging").admitted


def test_apply_of_a_new_digest_is_admitted(tmp_path: Path) -> None:
    proc, api = run_deploy(tmp_path, live(), admit_as_deployer)
    assert proc.returncode == 0, proc.stderr
    assert container(api.deployment)["image"] == NEW and not api.refused


def test_apply_that_changes_more_than_the_image_is_refused(tmp_path: Path) -> None:
    """The cluster runs a Deployment whose pod differs from the overlay (someone changed the
    manifests): CI's apply would change that too, and the policy refuses it; an admin applies it."""
    drifted = live()
    container(drifted)["env"][0]["value"] = "127.0.0.1"
    proc, api = run_deploy(tmp_path, drifted, admit_as_deployer)
    assert proc.returncode != 0 and api.refused
    assert container(api.deployment)["image"] == OLD
    # Control: the same apply without the policy goes through.
    proc, api = run_deploy(tmp_path / "control", drifted, None)
    assert proc.returncode == 0 and container(api.deployment)["image"] == NEW


# ------------------------------------------------------------------------------------------------
# The optional admission-time signature check (sigstore policy-controller)
# ------------------------------------------------------------------------------------------------
CIP_FILE = K8S_DIR / "admission" / "optional" / "sigstore-cluster-image-policy.yaml"
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
    cip = yaml.safe_load(CIP_FILE.read_text())
    jsonschema.validate(cip, CIP_SCHEMA)
    bad = copy.deepcopy(cip)
    bad["spec"]["authorities"][0]["keyless"]["identity"] = bad["spec"]["authorities"][0]["keyless"].pop("identities")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CIP_SCHEMA)


def test_cluster_image_policy_trusts_exactly_release_yml_on_staging_and_main() -> None:
    import fnmatch
    cip = yaml.safe_load(CIP_FILE.read_text())
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
    assert 'identity="https://github.com/$GITHUB_WORKFLOW_REF"' in (K8S_DIR.parents[1] / ".github" / "workflows" / "release.yml").read_text()
    [glob] = [i["glob"] for i in cip["spec"]["images"]]
    for overlay in ("staging", "production", "canary"):
        image = container(one(render(overlay), "Deployment"))["image"]
        assert fnmatch.fnmatch(image.rsplit(":", 1)[0] + "@sha256:" + "ab" * 32, glob.replace("**", "*"))
