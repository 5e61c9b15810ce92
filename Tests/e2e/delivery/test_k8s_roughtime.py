"""deploy/k8s/components/roughtime as the staging and production overlays render it: the UDP port
on the container, the Service and the NetworkPolicy, and the key from a Secret mounted read-only
that no rendered object contains. Control: the canary overlay, which does not use the component,
has none of it."""
from __future__ import annotations

import pytest

from harness.kubernetes import objects, one, render

pytestmark = pytest.mark.roughtime  # make roughtime-test

WITH = ("staging", "production")


def workload(overlay: str) -> tuple[dict, dict, dict]:
    docs = render(overlay)
    [dep] = objects(docs, "Deployment")
    return dep, one(docs, "Service"), one(docs, "NetworkPolicy", dep["metadata"]["name"])  # not the watch's


@pytest.mark.parametrize("overlay", WITH)
def test_roughtime_component_serves_udp_2002_with_the_key_from_a_secret(overlay: str) -> None:
    dep, svc, policy = workload(overlay)
    pod = dep["spec"]["template"]["spec"]
    [c] = pod["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["EPOCH_ROUGHTIME_PORT"] == "2002"
    assert env["EPOCH_ROUGHTIME_KEY"] == "/etc/epoch/roughtime/key"
    assert {"name": "roughtime", "containerPort": 2002, "protocol": "UDP"} in c["ports"]
    [mount] = c["volumeMounts"]
    assert mount == {"name": "roughtime-key", "mountPath": "/etc/epoch/roughtime", "readOnly": True}
    [volume] = pod["volumes"]
    secret = volume["secret"]
    assert volume["name"] == "roughtime-key" and secret["secretName"] == "epoch-roughtime-key"
    assert secret["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 65532
    assert {"name": "roughtime", "port": 2002, "targetPort": "roughtime", "protocol": "UDP"} in svc["spec"]["ports"]
    assert {"ports": [{"port": "roughtime", "protocol": "UDP"}]} in policy["spec"]["ingress"]
    # The key is never part of what is rendered (it is created out of band).
    assert not [d for d in render(overlay) if d["kind"] == "Secret" and "roughtime" in d["metadata"]["name"]]


def test_control_canary_has_no_roughtime() -> None:
    dep, svc, policy = workload("canary")
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert all(p["protocol"] == "TCP" for p in c["ports"])
    assert all(p["protocol"] == "TCP" for p in svc["spec"]["ports"])
    assert not any("EPOCH_ROUGHTIME" in e["name"] for e in c["env"])
