"""Pinning the images by digest, and a CPU limit on the sidecar, which with `workers: null`
also sets how many serving processes `maytrain serve` starts."""

from __future__ import annotations

from chart_render import SIDECAR, STORE_INIT, WORKER, containers, flags

DIGEST = "sha256:" + "ab" * 32
WORKER_DIGEST = "sha256:" + "cd" * 32


def images(rendered) -> dict[str, str]:
    return {name: c["image"] for name, c in containers(rendered.pod()).items()}


def test_a_digest_pins_every_container_of_the_maytrain_image(render, kube_errors, kube_versions):
    rendered = render({"image": {"tag": "0.1.0", "digest": DIGEST}})

    assert images(rendered) == {name: f"maytrain@{DIGEST}" for name in (SIDECAR, STORE_INIT, WORKER)}
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


def test_the_worker_image_takes_a_digest_of_its_own(render):
    worker_image = {"repository": "ingest-worker", "tag": "1.2.3", "digest": WORKER_DIGEST}
    found = images(render({"image": {"digest": DIGEST}, "worker": {"image": worker_image}}))

    assert found[WORKER] == f"ingest-worker@{WORKER_DIGEST}"
    assert found[SIDECAR] == f"maytrain@{DIGEST}"


def test_without_a_digest_the_tag_or_the_app_version_names_the_image(render):
    assert images(render())[SIDECAR] == "maytrain:0.1.0"
    assert images(render({"image": {"tag": "0.1.1"}}))[SIDECAR] == "maytrain:0.1.1"


def test_a_digest_that_is_not_sha256_is_refused(helm, render):
    try:
        render({"image": {"digest": "latest"}})
    except helm.HelmError as exc:
        assert "at '/image/digest'" in str(exc)
    else:
        raise AssertionError("a digest of 'latest' rendered")


def test_a_cpu_limit_reaches_the_sidecar_and_with_workers_null_picks_the_count(
        render, kube_errors, kube_versions):
    resources = {"requests": {"cpu": "500m", "memory": "256Mi"},
                 "limits": {"cpu": "1500m", "memory": "1Gi"}}
    rendered = render({"sidecar": {"transport": "tcp", "workers": None, "resources": resources}})
    sidecar = containers(rendered.pod())[SIDECAR]

    assert sidecar["resources"] == resources
    # No --workers flag: the sidecar reads the quota the limit becomes (2 cores, rounded up).
    assert flags(sidecar, "workers") == []
    for version in kube_versions:
        assert kube_errors(rendered.manifests, version) == []


def test_by_default_the_sidecar_has_no_cpu_limit(render):
    limits = containers(render().pod())[SIDECAR]["resources"]["limits"]

    assert "cpu" not in limits and "memory" in limits
