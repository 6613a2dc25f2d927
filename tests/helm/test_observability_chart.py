"""What the chart does for operating the sidecar: metrics at a named port, an optional
ServiceMonitor and dashboard, JSON logs, and an optional volume for decision receipts."""

from __future__ import annotations

import json

import pytest
from chart_render import CHART_DIR, SIDECAR, containers, flags, mounts, ports, volumes
from test_values_schema import install_error

MONITORED = {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}


def test_metrics_are_served_at_the_named_port_by_default(render):
    sidecar = containers(render().pod())[SIDECAR]

    assert flags(sidecar, "metrics-listen") == ["0.0.0.0:9090"]
    assert ports(sidecar)["metrics"] == 9090


def test_metrics_can_be_turned_off(render):
    sidecar = containers(render({"metrics": {"enabled": False}}).pod())[SIDECAR]

    assert flags(sidecar, "metrics-listen") == [] and "metrics" not in ports(sidecar)


def test_logs_are_json_unless_text_is_asked_for(render):
    assert flags(containers(render().pod())[SIDECAR], "log-format") == ["json"]
    text = render({"sidecar": {"logFormat": "text"}})
    assert flags(containers(text.pod())[SIDECAR], "log-format") == ["text"]


def test_no_service_monitor_unless_asked_for(render):
    kinds = {m["kind"] for m in render().manifests}

    assert not kinds & {"Service", "ServiceMonitor"}


def test_service_monitor_scrapes_the_metrics_port_of_the_sidecars_pods(render, kube_errors,
                                                                          kube_versions):
    rendered = render(MONITORED)
    service, monitor = rendered.one("Service"), rendered.one("ServiceMonitor")
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]

    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090,
                                         "targetPort": "metrics", "protocol": "TCP"}]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "30s"}]
    standard = [m for m in rendered.manifests if m["kind"] != "ServiceMonitor"]
    for version in kube_versions:
        assert kube_errors(standard, version) == []


def test_a_parent_chart_points_the_metrics_service_at_its_own_pods(render):
    values = {**MONITORED, "worker": {"enabled": False}}
    values["metrics"] = {**MONITORED["metrics"], "podSelector": {"app": "ingest"}}

    assert render(values).one("Service")["spec"]["selector"] == {"app": "ingest"}


def test_the_dashboard_configmap_carries_the_shipped_dashboard(render):
    rendered = render({"metrics": {"grafanaDashboard": {"enabled": True}}})
    dashboard = next(m for m in rendered.all("ConfigMap") if m["metadata"]["name"].endswith(
        "-dashboard"))

    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART_DIR / "dashboards" / "maytrain.json").read_text())
    assert json.loads(dashboard["data"]["maytrain.json"]) == shipped


def test_receipts_are_off_by_default(render):
    pod = render().pod()

    assert flags(containers(pod)[SIDECAR], "receipts") == []
    assert "maytrain-receipts" not in volumes(pod)


@pytest.mark.parametrize("claim", ["", "audit-receipts"], ids=["emptydir", "claim"])
def test_receipts_get_a_volume_of_their_own(render, kube_errors, kube_versions, claim):
    values = {"sidecar": {"receipts": {"enabled": True, "sample": 0.5, "existingClaim": claim}}}
    rendered = render(values)
    pod = rendered.pod()
    sidecar = containers(pod)[SIDECAR]

    assert flags(sidecar, "receipts") == ["/var/lib/maytrain-receipts"]
    assert flags(sidecar, "receipts-sample") == ["0.5"]
    assert flags(sidecar, "receipts-max-bytes") == ["768Mi"]
    assert mounts(sidecar)["maytrain-receipts"]["mountPath"] == "/var/lib/maytrain-receipts"
    volume = volumes(pod)["maytrain-receipts"]
    if claim:
        assert volume["persistentVolumeClaim"] == {"claimName": claim}
    else:
        assert volume["emptyDir"] == {"sizeLimit": "1Gi"}
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


@pytest.mark.parametrize(("values", "where"), [
    ({"metrics": {"prot": 9090}}, "at '/metrics': additional properties 'prot' not allowed"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval"),
    ({"sidecar": {"logFormat": "xml"}}, "/sidecar/logFormat"),
    ({"sidecar": {"receipts": {"sample": 0}}}, "/sidecar/receipts/sample"),
    ({"sidecar": {"receipts": {"maxSize": "lots"}}}, "/sidecar/receipts/maxSize"),
    ({"sidecar": {"receipts": {"directory": "/x"}}}, "additional properties 'directory'"),
])
def test_bad_observability_values_are_refused(helm, render, values, where):
    assert where in install_error(helm, render, values)


def test_the_metrics_port_must_differ_from_the_others(helm, render):
    assert "must differ" in install_error(helm, render, {"metrics": {"port": 8081}})


def test_everything_on_lints_clean(helm):
    values = {**MONITORED, "sidecar": {"receipts": {"enabled": True}}}
    values["metrics"] = {**MONITORED["metrics"], "grafanaDashboard": {"enabled": True}}
    report = helm.lint(CHART_DIR, values, strict=True, namespace="ml")

    assert [m for m in report["messages"] if m["severity"] >= 2] == [] and report["errors"] == []
