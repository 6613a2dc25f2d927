"""The optional NetworkPolicy: off by default; on, it admits only what the sidecar serves
beyond its pod (metrics, the pod IP listener) and what extraIngress opens for the worker."""

from __future__ import annotations

import pytest

PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
INGEST = {"podSelector": {"matchLabels": {"app": "ingest-client"}}}


def render_on(render, values: dict):
    """Render with the NetworkPolicy enabled, and `values` over that."""
    others = {key: value for key, value in values.items() if key != "networkPolicy"}
    return render({"networkPolicy": {"enabled": True, **values.get("networkPolicy", {})}, **others})


def policy(render, values: dict) -> dict:
    return render_on(render, values).one("NetworkPolicy")


def rule_ports(rule: dict) -> list:
    return [port["port"] for port in rule["ports"]]


def test_no_network_policy_by_default(render):
    assert render().all("NetworkPolicy") == []


def test_it_selects_the_worker_pods_and_admits_only_metrics(render):
    rendered = render_on(render, {})
    found = rendered.one("NetworkPolicy")["spec"]
    pod_labels = rendered.all("Deployment")[0]["spec"]["template"]["metadata"]["labels"]

    assert found["policyTypes"] == ["Ingress"]  # the worker's egress is its own business
    assert found["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert [rule_ports(rule) for rule in found["ingress"]] == [["metrics"]]
    assert "from" not in found["ingress"][0]


def test_peers_narrow_who_may_scrape_and_call_the_pod_ip_listener(render):
    values = {"networkPolicy": {"metricsFrom": [PROMETHEUS], "podIPListenerFrom": [INGEST]},
              "sidecar": {"podIPListener": {"enabled": True, "insecure": True}}}
    metrics, listener = policy(render, values)["spec"]["ingress"]

    assert rule_ports(metrics) == ["metrics"] and metrics["from"] == [PROMETHEUS]
    assert rule_ports(listener) == ["grpc"] and listener["from"] == [INGEST]


def test_with_nothing_served_beyond_the_pod_it_admits_nothing(render):
    found = policy(render, {"metrics": {"enabled": False}})["spec"]

    assert found["ingress"] == []


def test_extra_ingress_opens_the_workers_own_ports(render):
    extra = {"from": [INGEST], "ports": [{"port": 8080, "protocol": "TCP"}]}
    found = policy(render, {"networkPolicy": {"extraIngress": [extra]}})["spec"]

    assert found["ingress"][-1] == extra


def test_named_ports_are_ports_the_sidecar_declares(render):
    rendered = render_on(render, {"sidecar": {"podIPListener": {"enabled": True, "insecure": True}}})
    declared = {p["name"] for c in rendered.pod()["initContainers"] for p in c.get("ports") or []}

    for rule in rendered.one("NetworkPolicy")["spec"]["ingress"]:
        assert set(rule_ports(rule)) <= declared


@pytest.mark.parametrize("values", [
    {},
    {"networkPolicy": {"metricsFrom": [PROMETHEUS], "extraIngress": [{"ports": [{"port": 8080}]}]},
     "sidecar": {"podIPListener": {"enabled": True, "insecure": True}}},
    {"metrics": {"enabled": False}},
], ids=["defaults", "everything", "nothing-served"])
def test_the_policy_is_valid_kubernetes(render, kube_errors, kube_versions, values):
    rendered = render_on(render, values)

    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


def test_a_parent_chart_must_say_which_pods(helm, render):
    with pytest.raises(helm.HelmError, match="needs networkPolicy.podSelector"):
        render_on(render, {"worker": {"enabled": False}})


def test_a_parent_chart_names_its_pods(render):
    values = {"networkPolicy": {"podSelector": {"app": "ingest"}}, "worker": {"enabled": False}}

    assert policy(render, values)["spec"]["podSelector"] == {"matchLabels": {"app": "ingest"}}


def test_a_typo_in_a_peer_is_rejected(helm, render):
    with pytest.raises(helm.HelmError, match="additional properties 'namespaceSelecter' not allowed"):
        render_on(render, {"networkPolicy": {"metricsFrom": [{"namespaceSelecter": {}}]}})
