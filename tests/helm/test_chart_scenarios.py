"""Every scenario (the defaults and each values-*.yaml overlay) lints clean and renders
manifests that the Kubernetes API schemas accept."""

from __future__ import annotations

import pytest
from chart_render import CHART_DIR, MIN_KUBE, SCENARIOS, scenario_values


def test_every_scenario_overlay_is_tested():
    assert {"values-sqlite-demo.yaml", "values-postgres.yaml", "values-tcp.yaml",
            "values-pod-ip-mtls.yaml"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_lints_clean(helm, yaml, scenario):
    report = helm.lint(CHART_DIR, scenario_values(scenario, yaml), strict=True, namespace="ml")

    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 = warning, 3 = error
    assert problems == [] and report["errors"] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_renders_valid_kubernetes_manifests(render, kube_errors, kube_versions, yaml, scenario):
    rendered = render(scenario_values(scenario, yaml))

    assert {m["kind"] for m in rendered.manifests} == {"ConfigMap", "Deployment", "Secret"}
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


def test_plain_sidecar_mode_is_valid_on_the_oldest_supported_kubernetes(render, kube_errors, yaml):
    rendered = render(scenario_values("values-plain-sidecar.yaml", yaml))

    assert kube_errors(rendered.manifests, MIN_KUBE) == []


def test_chart_kube_version_floor_matches_the_tests(helm):
    with helm.Chart.load(CHART_DIR) as chart:
        assert chart.metadata["kubeVersion"] == f">={MIN_KUBE}-0"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_notes_tell_where_the_sidecar_is(render, yaml, scenario):
    rendered = render(scenario_values(scenario, yaml))
    target = {"values-tcp.yaml": "127.0.0.1:50051"}.get(scenario, "unix:/var/run/maytrain/maytrain.sock")

    assert f"MAYTRAIN_TARGET={target}" in rendered.notes
    assert "maytrain.v1.ConsentCheckService" in rendered.notes


def test_optional_resources_render_valid_manifests(render, kube_errors, kube_versions):
    values = {
        "serviceAccount": {"create": True, "annotations": {"team": "ingest"}},
        "sidecar": {"podIPListener": {"enabled": True, "insecure": True}, "maxStaleness": 5,
                    "env": [{"name": "LOG_LEVEL", "value": "debug"}], "extraArgs": ["--sync-interval=2"]},
        "worker": {"image": {"repository": "ingest-worker", "tag": "1.2.3"}, "command": [],
                   "args": ["--batch", "64"], "ports": [{"name": "metrics", "containerPort": 9090}],
                   "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]},
        "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
        "podAnnotations": {"team": "ingest"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway"}],
        "imagePullSecrets": [{"name": "registry"}],
    }
    rendered = render(values)

    assert {m["kind"] for m in rendered.manifests} == {"ConfigMap", "Deployment", "Secret",
                                                       "ServiceAccount"}
    assert rendered.one("ServiceAccount")["automountServiceAccountToken"] is False
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []
