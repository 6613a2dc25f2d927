"""What the chart puts in the pod: probes, security, the socket, the store and its secret,
the policy, and the start/stop order of sidecar and worker."""

from __future__ import annotations

import base64
import re

import pytest
from chart_render import (
    LIVENESS_SERVICE,
    READINESS_SERVICE,
    REPO_ROOT,
    SCENARIOS,
    SIDECAR,
    STORE_INIT,
    WORKER,
    containers,
    env,
    flags,
    mounts,
    names,
    ports,
    scenario_values,
    volumes,
)

DEFAULT_POLICY = (REPO_ROOT / "sidecar" / "policies" / "default.toml").read_text("utf-8")
POD_IP_SCENARIOS = {"values-pod-ip-mtls.yaml"}
TLS_DIR = "/var/run/secrets/maytrain/tls"
KEY_FILE = "/var/run/secrets/maytrain/snapshot-key/snapshot.key"


@pytest.fixture(params=SCENARIOS)
def scenario_pod(request, render, yaml):
    return render(scenario_values(request.param, yaml)).pod()


# Probes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "service"),
    [("readinessProbe", READINESS_SERVICE), ("livenessProbe", LIVENESS_SERVICE),
     ("startupProbe", LIVENESS_SERVICE)],
)
def test_sidecar_probes_are_native_grpc_health_checks_on_the_health_port(scenario_pod, probe, service):
    sidecar = containers(scenario_pod)[SIDECAR]
    action = sidecar[probe]

    assert set(action) - {"initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                          "failureThreshold", "successThreshold"} == {"grpc"}
    assert action["grpc"] == {"port": ports(sidecar)["health"], "service": service}


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - POD_IP_SCENARIOS))
def test_health_listener_is_the_only_pod_ip_listener_by_default(render, yaml, scenario):
    sidecar = containers(render(scenario_values(scenario, yaml)).pod())[SIDECAR]

    assert flags(sidecar, "health-listen") == [f"0.0.0.0:{ports(sidecar)['health']}"]
    assert all(a.startswith(("unix:/", "127.0.0.1:")) for a in flags(sidecar, "listen"))
    # Beside it only the metrics endpoint (HTTP, no consent answers) is on the pod IP.
    assert list(ports(sidecar)) == ["health", "metrics"]


def test_health_port_value_moves_listener_port_and_probes_together(render):
    sidecar = containers(render({"sidecar": {"healthPort": 9091}}).pod())[SIDECAR]

    assert ports(sidecar) == {"health": 9091, "metrics": 9090}
    assert flags(sidecar, "health-listen") == ["0.0.0.0:9091"]
    assert {sidecar[p]["grpc"]["port"] for p in ("readinessProbe", "livenessProbe", "startupProbe")} == {9091}


def test_pod_ip_listener_is_opt_in_and_plaintext_only_when_said_so(render):
    values = {"sidecar": {"podIPListener": {"enabled": True, "port": 50052, "insecure": True}}}
    pod = render(values).pod()
    sidecar = containers(pod)[SIDECAR]

    assert "0.0.0.0:50052" in flags(sidecar, "listen")
    assert ports(sidecar) == {"health": 8081, "grpc": 50052, "metrics": 9090}
    assert "--insecure-listen" in sidecar["args"]
    assert not flags(sidecar, "tls-cert") and "maytrain-tls" not in volumes(pod)


@pytest.mark.parametrize("client_auth", [False, True], ids=["tls", "mutual-tls"])
def test_pod_ip_listener_serves_tls_from_a_secret_mounted_read_only(render, client_auth):
    tls = {"secretName": "ingest-tls", "clientAuth": client_auth}
    pod = render({"sidecar": {"podIPListener": {"enabled": True, "tls": tls}}}).pod()
    sidecar, worker = containers(pod)[SIDECAR], containers(pod)[WORKER]
    secret = volumes(pod)["maytrain-tls"]["secret"]
    files = ["tls.crt", "tls.key", *(["ca.crt"] if client_auth else [])]

    assert secret["secretName"] == "ingest-tls"
    assert secret["items"] == [{"key": name, "path": name} for name in files]
    assert mounts(sidecar)["maytrain-tls"] == {"name": "maytrain-tls", "mountPath": TLS_DIR,
                                               "readOnly": True}
    assert flags(sidecar, "tls-cert") == [f"{TLS_DIR}/tls.crt"]
    assert flags(sidecar, "tls-key") == [f"{TLS_DIR}/tls.key"]
    assert flags(sidecar, "tls-client-ca") == ([f"{TLS_DIR}/ca.crt"] if client_auth else [])
    assert "--insecure-listen" not in sidecar["args"]
    assert "maytrain-tls" not in mounts(worker)


def test_health_listener_stays_plaintext_beside_a_tls_pod_ip_listener(render, yaml):
    sidecar = containers(render(scenario_values("values-pod-ip-mtls.yaml", yaml)).pod())[SIDECAR]

    # One TLS flag set for the main server; --health-listen is a separate plaintext server
    # the kubelet's gRPC probes can dial.
    assert flags(sidecar, "health-listen") == ["0.0.0.0:8081"]
    assert sidecar["readinessProbe"]["grpc"]["port"] == 8081 and flags(sidecar, "tls-client-ca")


def test_tls_values_are_ignored_while_the_pod_ip_listener_is_off(render):
    pod = render({"sidecar": {"podIPListener": {"tls": {"secretName": "x"}}}}).pod()

    assert "maytrain-tls" not in volumes(pod) and not flags(containers(pod)[SIDECAR], "tls-cert")


# Security ---------------------------------------------------------------------------------


def test_sidecar_runs_non_root_read_only_without_capabilities(scenario_pod):
    for name in {SIDECAR, STORE_INIT} & set(containers(scenario_pod)):
        ctx = containers(scenario_pod)[name]["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0, name
        assert ctx["readOnlyRootFilesystem"] is True, name
        assert ctx["allowPrivilegeEscalation"] is False and ctx["privileged"] is False, name
        assert ctx["capabilities"] == {"drop": ["ALL"]}, name
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name


def test_pod_gets_no_service_account_token_and_a_restricted_security_context(scenario_pod):
    assert scenario_pod["automountServiceAccountToken"] is False
    assert scenario_pod["securityContext"]["runAsNonRoot"] is True
    worker = containers(scenario_pod)[WORKER]["securityContext"]
    assert worker["allowPrivilegeEscalation"] is False and worker["capabilities"] == {"drop": ["ALL"]}


def test_sidecar_has_resource_requests_and_a_memory_limit(scenario_pod):
    resources = containers(scenario_pod)[SIDECAR]["resources"]

    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]


# Transport ----------------------------------------------------------------------------------


def test_unix_socket_lives_on_a_shared_in_memory_empty_dir(render):
    pod = render().pod()
    sidecar, worker = containers(pod)[SIDECAR], containers(pod)[WORKER]

    assert volumes(pod)["maytrain-socket"]["emptyDir"]["medium"] == "Memory"
    assert flags(sidecar, "listen") == ["unix:/var/run/maytrain/maytrain.sock"]
    assert mounts(sidecar)["maytrain-socket"]["mountPath"] == "/var/run/maytrain"
    assert env(worker)["MAYTRAIN_TARGET"] == "unix:/var/run/maytrain/maytrain.sock"


def test_worker_mounts_the_socket_read_only_and_nothing_else_of_the_sidecar(render):
    worker = containers(render().pod())[WORKER]

    assert mounts(worker) == {
        "maytrain-socket": {"name": "maytrain-socket", "mountPath": "/var/run/maytrain", "readOnly": True}
    }


def test_tcp_mode_listens_on_loopback_only(render, yaml):
    pod = render(scenario_values("values-tcp.yaml", yaml)).pod()
    sidecar, worker = containers(pod)[SIDECAR], containers(pod)[WORKER]

    assert flags(sidecar, "listen") == ["127.0.0.1:50051"]
    assert env(worker)["MAYTRAIN_TARGET"] == "127.0.0.1:50051"
    assert "maytrain-socket" not in volumes(pod) and "maytrain-socket" not in mounts(worker)


# Store, secret, snapshot, policy ------------------------------------------------------------


def test_store_password_is_mounted_from_the_existing_secret_as_a_file(render, yaml):
    pod = render(scenario_values("values-postgres.yaml", yaml)).pod()
    sidecar, worker = containers(pod)[SIDECAR], containers(pod)[WORKER]
    secret = volumes(pod)["maytrain-store-password"]["secret"]
    mount = mounts(sidecar)["maytrain-store-password"]

    assert secret["secretName"] == "maytrain-store"
    assert secret["items"] == [{"key": "password", "path": "password"}]
    assert mount["readOnly"] is True
    assert env(sidecar)["MAYTRAIN_STORE_PASSWORD_FILE"] == f"{mount['mountPath']}/password"
    assert env(sidecar)["MAYTRAIN_STORE"] == "postgresql://maytrain@postgres.maytrain.svc:5432/maytrain"
    assert "maytrain-store-password" not in mounts(worker) and "MAYTRAIN_STORE" not in env(worker)


def test_no_password_file_without_a_secret(render):
    pod = render().pod()

    assert "maytrain-store-password" not in volumes(pod)
    assert "MAYTRAIN_STORE_PASSWORD_FILE" not in env(containers(pod)[SIDECAR])


def test_sqlite_store_file_is_on_a_writable_volume(render, yaml):
    for scenario in SCENARIOS:
        pod = render(scenario_values(scenario, yaml)).pod()
        sidecar = containers(pod)[SIDECAR]
        url = env(sidecar).get("MAYTRAIN_STORE", "")  # none: it follows NATS (fleet)
        if url.startswith("sqlite:"):
            data = mounts(sidecar)["maytrain-data"]
            assert url.startswith(f"sqlite:///{data['mountPath']}/") and not data.get("readOnly"), scenario
            assert "emptyDir" in volumes(pod)["maytrain-data"], scenario


def test_sqlite_demo_initialises_the_store_with_samples_before_the_sidecar_serves(render, yaml):
    pod = render(scenario_values("values-sqlite-demo.yaml", yaml)).pod()
    init = containers(pod)[STORE_INIT]

    assert names(pod["initContainers"]) == [STORE_INIT, SIDECAR]
    assert init["args"] == ["store", "init", "--sample"]
    assert env(init)["MAYTRAIN_STORE"] == env(containers(pod)[SIDECAR])["MAYTRAIN_STORE"]
    assert env(init)["MAYTRAIN_POLICY"] == flags(containers(pod)[SIDECAR], "policy")[0]
    for volume in ("maytrain-data", "maytrain-policy"):
        assert mounts(init)[volume] == mounts(containers(pod)[SIDECAR])[volume]


def test_default_sqlite_store_is_created_before_the_sidecar_serves(render):
    pod = render().pod()

    assert names(pod["initContainers"]) == [STORE_INIT, SIDECAR]
    assert containers(pod)[STORE_INIT]["args"] == ["store", "init"]


def test_shared_postgres_store_is_not_migrated_by_every_pod(render, yaml):
    pod = render(scenario_values("values-postgres.yaml", yaml)).pod()

    assert names(pod["initContainers"]) == [SIDECAR]


def test_snapshot_is_on_an_empty_dir_only_the_sidecar_mounts(render):
    pod = render().pod()

    assert flags(containers(pod)[SIDECAR], "snapshot-file") == ["/var/cache/maytrain/snapshot.bin"]
    assert mounts(containers(pod)[SIDECAR])["maytrain-cache"]["mountPath"] == "/var/cache/maytrain"
    assert "emptyDir" in volumes(pod)["maytrain-cache"]


def test_snapshot_is_authenticated_with_a_random_key_from_a_chart_made_secret(render):
    rendered = render()
    pod, secret = rendered.pod(), rendered.one("Secret")
    sidecar, worker = containers(pod)[SIDECAR], containers(pod)[WORKER]
    volume = volumes(pod)["maytrain-snapshot-key"]["secret"]
    key = base64.b64decode(secret["data"]["snapshot.key"])

    assert secret["metadata"]["name"] == volume["secretName"] == "demo-maytrain-snapshot-key"
    assert len(base64.b64decode(key, validate=True)) == 32
    assert volume["items"] == [{"key": "snapshot.key", "path": "snapshot.key"}]
    assert mounts(sidecar)["maytrain-snapshot-key"]["readOnly"] is True
    assert KEY_FILE.startswith(mounts(sidecar)["maytrain-snapshot-key"]["mountPath"] + "/")
    assert flags(sidecar, "snapshot-key-file") == [KEY_FILE]
    assert "maytrain-snapshot-key" not in mounts(worker)
    assert "maytrain-snapshot-key" not in mounts(containers(pod)[STORE_INIT])


def test_each_install_gets_its_own_snapshot_key(render):
    first, second = render().one("Secret"), render().one("Secret")

    assert first["data"] != second["data"]


def test_an_existing_snapshot_key_secret_is_used_as_is(render):
    values = {"sidecar": {"snapshot": {"keySecret": {"existingSecret": "team-key", "key": "k"}}}}
    rendered = render(values)

    assert rendered.all("Secret") == []
    assert volumes(rendered.pod())["maytrain-snapshot-key"]["secret"] == {
        "secretName": "team-key", "defaultMode": 292, "items": [{"key": "k", "path": "snapshot.key"}]}


def test_no_snapshot_no_key(render):
    rendered = render({"sidecar": {"snapshot": {"enabled": False}}})
    sidecar = containers(rendered.pod())[SIDECAR]

    assert rendered.all("Secret") == [] and "maytrain-snapshot-key" not in volumes(rendered.pod())
    assert not flags(sidecar, "snapshot-file") and not flags(sidecar, "snapshot-key-file")


def test_no_scenario_puts_a_password_on_a_command_line(render, yaml):
    for scenario in SCENARIOS:
        pod = render(scenario_values(scenario, yaml)).pod()
        for name, container in containers(pod).items():
            words = [*(container.get("command") or []), *(container.get("args") or [])]
            assert not [w for w in words if re.search(r"(?i)password|://[^@/]*:[^@]*@", w)], (
                scenario, name)


def test_default_policy_is_shipped_in_a_config_map_and_mounted(render):
    rendered = render()
    pod = rendered.pod()
    config = rendered.one("ConfigMap")

    assert config["data"] == {"policy.toml": DEFAULT_POLICY}
    assert volumes(pod)["maytrain-policy"]["configMap"]["name"] == config["metadata"]["name"]
    assert mounts(containers(pod)[SIDECAR])["maytrain-policy"] == {
        "name": "maytrain-policy", "mountPath": "/etc/maytrain/policy", "readOnly": True}
    assert flags(containers(pod)[SIDECAR], "policy") == ["/etc/maytrain/policy/policy.toml"]


def test_policy_from_values_replaces_the_default_and_rolls_the_pods(render):
    default, custom = render(), render({"policy": {"text": 'name = "strict"\n'}})

    assert custom.one("ConfigMap")["data"] == {"policy.toml": 'name = "strict"\n'}
    annotation = "checksum/maytrain-policy"
    assert (default.one("Deployment")["spec"]["template"]["metadata"]["annotations"][annotation]
            != custom.one("Deployment")["spec"]["template"]["metadata"]["annotations"][annotation])


def test_existing_policy_config_map_is_used_as_is(render):
    rendered = render({"policy": {"existingConfigMap": "team-policy"}})

    assert rendered.all("ConfigMap") == []
    assert volumes(rendered.pod())["maytrain-policy"]["configMap"]["name"] == "team-policy"


# Start and stop order -------------------------------------------------------------------------


def test_native_sidecar_starts_before_the_worker_and_outlives_it(render):
    pod = render().pod()

    assert names(pod["initContainers"]) == [STORE_INIT, SIDECAR]
    assert "restartPolicy" not in pod["initContainers"][0]  # runs to completion first
    assert pod["initContainers"][1]["restartPolicy"] == "Always"
    assert names(pod["containers"]) == [WORKER]
    assert "lifecycle" not in pod["initContainers"][1]


def test_plain_sidecar_is_a_container_that_waits_for_the_worker_on_shutdown(render, yaml):
    pod = render(scenario_values("values-plain-sidecar.yaml", yaml)).pod()
    sidecar = containers(pod)[SIDECAR]

    assert names(pod["initContainers"]) == [STORE_INIT]
    assert names(pod["containers"]) == [SIDECAR, WORKER]
    assert "restartPolicy" not in sidecar
    assert sidecar["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "15"]
