"""A team's own worker chart depends on helm/maytrain (file://) and includes the sidecar's
named templates into its Deployment (tests/helm/worker-chart)."""

from __future__ import annotations

import pytest
from chart_render import SIDECAR, containers, env, mounts, names, volumes

WORKER_DEPLOYMENT = "demo-ingest-worker"


def worker_pod(rendered):
    (deployment,) = [d for d in rendered.all("Deployment") if d["metadata"]["name"] == WORKER_DEPLOYMENT]
    return deployment["spec"]["template"]["spec"]


def test_dependency_resolves_from_the_repository_chart(helm, worker_chart):
    (dependency,) = helm.dependency_list(worker_chart)

    assert (dependency["name"], dependency["status"]) == ("maytrain", "ok")


def test_worker_chart_lints_clean(helm, worker_chart):
    report = helm.lint(worker_chart, strict=True, with_subcharts=True, namespace="ml")

    assert [m for m in report["messages"] if m["severity"] >= 2] == [] and report["errors"] == []


def test_included_sidecar_lands_in_the_worker_pod(render, worker_chart, kube_errors, kube_versions):
    rendered = render(chart=worker_chart)
    pod = worker_pod(rendered)
    sidecar, ingest = containers(pod)[SIDECAR], containers(pod)["ingest"]

    assert names(pod["initContainers"]) == [SIDECAR] and sidecar["restartPolicy"] == "Always"
    assert names(pod["containers"]) == ["ingest"]
    assert env(ingest)["MAYTRAIN_TARGET"] == "unix:/var/run/maytrain/maytrain.sock"
    assert set(mounts(ingest)) == {"maytrain-socket", "scratch"}
    assert {"maytrain-socket", "maytrain-policy", "maytrain-store-password", "scratch"} <= set(volumes(pod))
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


def test_subchart_renders_the_policy_config_map_and_key_secret_but_no_deployment(render, worker_chart):
    rendered = render(chart=worker_chart)

    assert [d["metadata"]["name"] for d in rendered.all("Deployment")] == [WORKER_DEPLOYMENT]
    config_map = rendered.one("ConfigMap")["metadata"]["name"]
    assert volumes(worker_pod(rendered))["maytrain-policy"]["configMap"]["name"] == config_map
    key_secret = rendered.one("Secret")["metadata"]["name"]
    assert volumes(worker_pod(rendered))["maytrain-snapshot-key"]["secret"]["secretName"] == key_secret
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/maytrain-policy" in annotations


def test_parent_values_reach_the_included_templates(render, worker_chart):
    values = {"maytrain": {"sidecar": {"native": False, "transport": "tcp"}}}
    pod = worker_pod(render(values, chart=worker_chart))

    assert names(pod["containers"]) == [SIDECAR, "ingest"]
    assert not pod.get("initContainers")
    assert env(containers(pod)["ingest"])["MAYTRAIN_TARGET"] == "127.0.0.1:50051"
    assert "maytrain-socket" not in volumes(pod)


def test_typo_under_the_dependency_key_fails_the_parent_install(helm, render, worker_chart):
    with pytest.raises(helm.HelmValuesError) as caught:
        render({"maytrain": {"sidecar": {"healthport": 9000}}}, chart=worker_chart)

    assert "at '/sidecar': additional properties 'healthport' not allowed" in str(caught.value)
