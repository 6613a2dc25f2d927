"""follow.nats (values-fleet.yaml): sidecars follow the relay's NATS stream with no store
connection, no store init and no password, and two relays run in their own Deployment with
the store's password and the snapshot key."""

from __future__ import annotations

from chart_render import (
    SIDECAR,
    STORE_INIT,
    containers,
    env,
    flags,
    mounts,
    ports,
    scenario_values,
    volumes,
)


def deployments(rendered) -> dict:
    return {d["metadata"]["name"]: d for d in rendered.all("Deployment")}


def fleet(render, yaml):
    rendered = render(scenario_values("values-fleet.yaml", yaml))
    found = deployments(rendered)
    return found["demo-maytrain"], found["demo-maytrain-relay"]


def test_fleet_sidecars_follow_nats_and_never_see_the_store(render, yaml) -> None:
    worker, _ = fleet(render, yaml)
    pod = worker["spec"]["template"]["spec"]
    sidecar = containers(pod)[SIDECAR]

    assert env(sidecar)["MAYTRAIN_FOLLOW"] == "nats://nats.nats.svc:4222"
    assert env(sidecar)["MAYTRAIN_STREAM"] == "maytrain-changes"
    assert "MAYTRAIN_STORE" not in env(sidecar) and "MAYTRAIN_STORE_PASSWORD_FILE" not in env(sidecar)
    assert STORE_INIT not in containers(pod)
    assert "maytrain-store-password" not in volumes(pod)
    assert "maytrain-store-password" not in mounts(sidecar)
    assert flags(sidecar, "snapshot-key-file")  # the relay's snapshots are sealed with it


def test_the_relay_runs_twice_with_the_store_and_the_snapshot_key(render, yaml) -> None:
    worker, relay = fleet(render, yaml)
    pod = relay["spec"]["template"]["spec"]
    container = containers(pod)["relay"]

    assert relay["spec"]["replicas"] == 2 and container["args"][0] == "relay"
    assert env(container)["MAYTRAIN_NATS"] == "nats://nats.nats.svc:4222"
    assert env(container)["MAYTRAIN_STORE"].startswith("postgresql://maytrain@")
    assert env(container)["MAYTRAIN_STORE_PASSWORD_FILE"] == \
        "/var/run/secrets/maytrain/store/password"
    assert flags(container, "retention") == ["7d"] and flags(container, "heartbeat") == ["1"]
    sidecar = containers(worker["spec"]["template"]["spec"])[SIDECAR]
    assert flags(container, "snapshot-key-file") == flags(sidecar, "snapshot-key-file")
    assert {"maytrain-store-password", "maytrain-snapshot-key", "relay-tmp"} <= set(mounts(container))
    assert container["readinessProbe"]["grpc"]["port"] == ports(container)["health"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_relay_pods_are_not_selected_as_workers(render, yaml) -> None:
    worker, relay = fleet(render, yaml)
    worker_selector = worker["spec"]["selector"]["matchLabels"]
    relay_labels = relay["spec"]["template"]["metadata"]["labels"]

    assert not worker_selector.items() <= relay_labels.items()


def test_without_follow_nats_there_is_no_relay_and_the_sidecar_reads_the_store(render, yaml) -> None:
    rendered = render(scenario_values("values-postgres.yaml", yaml))
    sidecar = containers(rendered.pod())[SIDECAR]

    assert set(deployments(rendered)) == {"demo-maytrain"}
    assert "MAYTRAIN_FOLLOW" not in env(sidecar) and "MAYTRAIN_STORE" in env(sidecar)


def test_a_store_fallback_gives_the_sidecar_the_store_too(render, yaml) -> None:
    values = scenario_values("values-fleet.yaml", yaml)
    values["follow"]["nats"]["storeFallback"] = True
    worker = deployments(render(values))["demo-maytrain"]
    sidecar = containers(worker["spec"]["template"]["spec"])[SIDECAR]

    assert {"MAYTRAIN_FOLLOW", "MAYTRAIN_STORE", "MAYTRAIN_STORE_PASSWORD_FILE"} <= set(env(sidecar))
    assert "maytrain-store-password" in mounts(sidecar)
