"""Bad values fail at install with a message that names the key: values.schema.json closes
every object level, and the templates refuse what a schema cannot express."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chart_render import CHART_DIR

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())

# Kubernetes objects the chart passes through untouched; the tests and the API server
# check them against the Kubernetes schema once rendered.
PASSTHROUGH = {
    "properties.global",
    "definitions.volume",
    "definitions.affinity.properties.nodeAffinity",
    "definitions.affinity.properties.podAffinity",
    "definitions.affinity.properties.podAntiAffinity",
    "definitions.topologySpreadConstraint.properties.labelSelector",
    "definitions.networkPolicyPeer.properties.podSelector",
    "definitions.networkPolicyPeer.properties.namespaceSelector",
    "definitions.networkPolicyIngressRule",
}


def object_schemas(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema that describes an object, with its dotted path."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind):
            yield path, node
        for key, child in node.items():
            yield from object_schemas(child, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from object_schemas(child, f"{path}.{index}")


def install_error(helm, render, values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    return str(caught.value)


def test_every_object_level_rejects_unknown_keys():
    open_levels = [
        path for path, node in object_schemas(SCHEMA)
        if path not in PASSTHROUGH and node.get("additionalProperties") is not False
        and not isinstance(node.get("additionalProperties"), dict)  # a typed map, e.g. labels
    ]

    assert open_levels == []


def test_passthrough_list_names_real_schema_nodes():
    found = {path for path, _ in object_schemas(SCHEMA)}

    assert found >= PASSTHROUGH


def test_defaults_satisfy_the_schema(helm):
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(chart.values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sidcar": {}}, "at '': additional properties 'sidcar' not allowed"),
        ({"sidecar": {"trasnport": "tcp"}}, "at '/sidecar': additional properties 'trasnport' not allowed"),
        ({"sidecar": {"probes": {"readiness": {"periodSecond": 5}}}},
         "at '/sidecar/probes/readiness': additional properties 'periodSecond' not allowed"),
        ({"store": {"passwordSecret": {"secretName": "pg"}}},
         "at '/store/passwordSecret': additional properties 'secretName' not allowed"),
        ({"sidecar": {"securityContext": {"runAsRoot": False}}},
         "at '/sidecar/securityContext': additional properties 'runAsRoot' not allowed"),
        ({"sidecar": {"podIPListener": {"tls": {"secret": "x"}}}},
         "at '/sidecar/podIPListener/tls': additional properties 'secret' not allowed"),
        ({"sidecar": {"snapshot": {"keySecret": {"name": "x"}}}},
         "at '/sidecar/snapshot/keySecret': additional properties 'name' not allowed"),
    ],
    ids=["top-level", "nested", "probe", "secret", "security-context", "tls", "snapshot-key"],
)
def test_typo_in_a_key_is_rejected_naming_the_key(helm, render, values, message):
    error = install_error(helm, render, values)

    assert "values don't meet the specifications of the schema" in error
    assert message in error


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"sidecar": {"healthPort": "8081"}}, "at '/sidecar/healthPort': got string, want integer"),
        ({"sidecar": {"native": "yes"}}, "at '/sidecar/native': got string, want boolean"),
        ({"worker": {"command": "sleep infinity"}}, "at '/worker/command': got string, want array"),
        ({"sidecar": {"transport": "udp"}}, "at '/sidecar/transport': value must be one of 'unix', 'tcp'"),
        ({"sidecar": {"healthPort": 70000}}, "at '/sidecar/healthPort'"),
        ({"sidecar": {"resources": {"limits": {"memory": "512MB"}}}},
         "at '/sidecar/resources/limits/memory'"),
        ({"store": {"url": "mysql://maytrain@db/consents"}}, "at '/store/url'"),
        ({"sidecar": {"podIPListener": {"insecure": "yes"}}},
         "at '/sidecar/podIPListener/insecure': got string, want boolean"),
        ({"sidecar": {"snapshot": {"keySecret": {"key": "a/b"}}}},
         "at '/sidecar/snapshot/keySecret/key'"),
    ],
    ids=["port-as-string", "bool-as-string", "list-as-string", "enum", "range", "quantity", "url-scheme",
         "insecure-as-string", "secret-key-name"],
)
def test_wrong_type_or_value_is_rejected_naming_the_key(helm, render, values, where):
    assert where in install_error(helm, render, values)


@pytest.mark.parametrize("url", ["postgresql://maytrain:hunter2@db:5432/consents",
                                 "postgresql://maytrain:hun/ter@2@db:5432/consents",
                                 "postgresql://maytrain@db:5432/consents?sslmode=require&password=x"],
                         ids=["userinfo", "slash-and-at", "parameter"])
def test_password_in_store_url_is_refused(helm, render, url):
    error = install_error(helm, render, {"store": {"url": url, "dataVolume": {"enabled": False}}})

    assert "store.url must not carry a password" in error and "store.passwordSecret.name" in error


@pytest.mark.parametrize(("sidecar", "message"), [
    ({"extraArgs": ["--store=postgresql://maytrain:hunter2@db:5432/consents"]},
     "sidecar.extraArgs must not carry a password"),
    ({"extraArgs": ["--store", "postgresql://maytrain@db/consents?password=hunter2"]},
     "sidecar.extraArgs must not carry a password"),
    ({"env": [{"name": "PGPASSWORD", "value": "hunter2"}]},
     "sidecar.env PGPASSWORD must come from a Secret"),
    ({"env": [{"name": "MAYTRAIN_STORE", "value": "postgresql://maytrain:hunter2@db/consents"}]},
     "sidecar.env MAYTRAIN_STORE must not carry a password"),
], ids=["arg-url", "arg-parameter", "env-pgpassword", "env-store-url"])
def test_a_password_in_args_or_env_values_is_refused(helm, render, sidecar, message):
    assert message in install_error(helm, render, {"sidecar": sidecar})


def test_a_password_from_a_secret_reference_is_accepted(render):
    env = [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}}]

    assert render({"sidecar": {"env": env}}).pod()


@pytest.mark.parametrize(("listener", "transport", "message"), [
    ({"enabled": True}, "unix", "set sidecar.podIPListener.tls.secretName"),
    ({"enabled": True, "insecure": True, "tls": {"clientAuth": True}}, "unix",
     "tls.clientAuth needs sidecar.podIPListener.tls.secretName"),
    ({"enabled": True, "tls": {"secretName": "t"}}, "tcp", "use sidecar.transport=unix"),
], ids=["neither-tls-nor-insecure", "client-auth-without-secret", "tls-with-tcp-transport"])
def test_a_pod_ip_listener_without_a_coherent_security_choice_is_refused(
        helm, render, listener, transport, message):
    values = {"sidecar": {"transport": transport, "podIPListener": listener}}

    assert message in install_error(helm, render, values)


def test_sqlite_file_off_the_writable_volume_is_refused(helm, render):
    error = install_error(helm, render, {"store": {"url": "sqlite:////data/maytrain.db"}})

    assert "store.dataVolume.mountPath" in error and "read-only" in error


def test_clashing_ports_are_refused(helm, render):
    error = install_error(helm, render, {"sidecar": {"transport": "tcp", "tcp": {"port": 8081}}})

    assert "must differ" in error


def test_native_sidecar_on_a_cluster_without_it_is_refused(helm, capfd):
    # Helm's lint logs a template's fail() instead of raising it; an install raises it.
    helm.lint(CHART_DIR, kube_version="v1.28.9")
    refused = capfd.readouterr().err
    helm.lint(CHART_DIR, {"sidecar": {"native": False}}, kube_version="v1.28.9")
    plain = capfd.readouterr().err

    assert "sidecar.native needs Kubernetes 1.29 or later" in refused
    assert "set sidecar.native=false" in refused
    assert "sidecar.native" not in plain


def test_overlong_socket_path_is_refused(helm, render):
    error = install_error(helm, render, {"sidecar": {"unix": {"socketDir": "/" + "s" * 100}}})

    assert "longer than the 107 bytes" in error
