"""store.pack: a CronJob running `maytrain store pack` on the shared store, off unless a
schedule is set, refused for a pod-local SQLite store, with its own role if given one."""

from __future__ import annotations

import pytest
from chart_render import containers, env, mounts, scenario_values, volumes

NIGHTLY = "17 3 * * *"


def postgres(yaml, **pack) -> dict:
    values = scenario_values("values-postgres.yaml", yaml)
    values["store"]["pack"] = pack
    return values


def cronjob_pod(rendered) -> dict:
    return rendered.one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_no_cronjob_without_a_schedule(render, yaml) -> None:
    assert render().all("CronJob") == []
    assert render(scenario_values("values-postgres.yaml", yaml)).all("CronJob") == []


def test_a_schedule_packs_the_store_as_the_sidecars_role_one_at_a_time(
        render, yaml, kube_errors, kube_versions) -> None:
    rendered = render(postgres(yaml, schedule=NIGHTLY))
    cronjob = rendered.one("CronJob")
    assert cronjob["spec"]["schedule"] == NIGHTLY
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob_pod(rendered)
    pack = containers(pod)["pack"]
    assert pack["args"] == ["store", "pack", "--json", "--snapshot-key-file="
                            "/var/run/secrets/maytrain/snapshot-key/snapshot.key"]
    assert volumes(pod)["maytrain-snapshot-key"]["secret"]["secretName"] == \
        "demo-maytrain-snapshot-key"  # the sidecars' key: they use only a base sealed with it
    assert env(pack)["MAYTRAIN_STORE"] == "postgresql://maytrain@postgres.maytrain.svc:5432/maytrain"
    assert env(pack)["MAYTRAIN_STORE_PASSWORD_FILE"] == "/var/run/secrets/maytrain/store/password"
    assert volumes(pod)["maytrain-store-password"]["secret"]["secretName"] == "maytrain-store"
    assert {"pack-tmp", "maytrain-store-password", "maytrain-snapshot-key"} <= set(mounts(pack))
    assert pack["securityContext"]["readOnlyRootFilesystem"] is True
    assert pack["resources"]["limits"]["memory"] == "1Gi"
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    for version in kube_versions:
        assert kube_errors([cronjob], version) == []


def test_a_packing_role_of_its_own_gets_its_own_url_and_secret(render, yaml) -> None:
    rendered = render(postgres(yaml, schedule=NIGHTLY,
                               url="postgresql://packer@postgres.maytrain.svc:5432/maytrain",
                               passwordSecret={"name": "maytrain-packer", "key": "pw"}))
    pod = cronjob_pod(rendered)
    assert env(containers(pod)["pack"])["MAYTRAIN_STORE"].startswith("postgresql://packer@")
    secret = volumes(pod)["maytrain-store-password"]["secret"]
    assert secret["secretName"] == "maytrain-packer" and secret["items"][0]["key"] == "pw"


def test_a_pod_local_sqlite_store_cannot_be_packed_by_a_cronjob(render, helm) -> None:
    with pytest.raises(helm.HelmError, match="store.pack.schedule packs a shared store"):
        render({"store": {"pack": {"schedule": NIGHTLY}}})


def test_a_packing_url_with_a_password_is_refused(render, yaml, helm) -> None:
    with pytest.raises(helm.HelmError, match="store.pack.url must not carry a password"):
        render(postgres(yaml, schedule=NIGHTLY,
                        url="postgresql://packer:secret@postgres:5432/maytrain"))


def test_without_snapshot_keys_the_pack_is_unsealed(render, yaml) -> None:
    values = postgres(yaml, schedule=NIGHTLY)
    values["sidecar"] = {**values.get("sidecar", {}), "snapshot": {"enabled": False}}
    pod = cronjob_pod(render(values))
    assert containers(pod)["pack"]["args"] == ["store", "pack", "--json"]
    assert "maytrain-snapshot-key" not in volumes(pod)
