"""Rendered-chart helpers shared by the Helm tests: where things are, and how to read a pod."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "maytrain"
WORKER_CHART_DIR = Path(__file__).resolve().parent / "worker-chart"
# "values.yaml" stands for the chart's defaults; every values-*.yaml is a scenario overlay.
SCENARIOS = ["values.yaml", *sorted(p.name for p in CHART_DIR.glob("values-*.yaml"))]
# Native sidecars (restartPolicy on an init container) are in the schema from 1.29 on.
NATIVE_SIDECAR_KUBE = "1.29.0"
# The chart's kubeVersion floor (Chart.yaml): the native-sidecar minimum, for both modes.
MIN_KUBE = NATIVE_SIDECAR_KUBE
SIDECAR = "maytrain"
STORE_INIT = "maytrain-store-init"
WORKER = "worker"
READINESS_SERVICE = "maytrain.v1.ConsentCheckService"
LIVENESS_SERVICE = "liveness"


def need(module: str, requirement: str) -> ModuleType:
    """Import a test dependency, or fail the test saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"the Helm chart tests need {requirement} (module {module!r}); "
            "install the test extra: pip install -e ./clients/python -e '.[test]'",
            pytrace=False,
        )


def scenario_values(name: str, yaml: ModuleType) -> dict[str, Any]:
    """The values a scenario passes on top of the chart's defaults."""
    if name == "values.yaml":
        return {}
    return yaml.safe_load((CHART_DIR / name).read_text()) or {}


@dataclass
class Rendered:
    """One render of a chart: its manifests, parsed, and NOTES.txt."""

    files: dict[str, str]
    yaml: ModuleType
    manifests: list[dict[str, Any]] = field(init=False)
    notes: str = field(init=False)

    def __post_init__(self) -> None:
        self.manifests = [
            doc
            for path, text in sorted(self.files.items())
            if path.endswith((".yaml", ".yml"))
            for doc in self.yaml.safe_load_all(text)
            if doc
        ]
        self.notes = next((t for p, t in self.files.items() if p.endswith("NOTES.txt")), "")

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"want one {kind}, rendered {len(found)}"
        return found[0]

    def pod(self) -> dict[str, Any]:
        """The pod spec of the (only) worker Deployment: every one but the relay's."""
        workers = [d for d in self.all("Deployment")
                   if d["metadata"]["labels"].get("app.kubernetes.io/component") != "relay"]
        assert len(workers) == 1, f"want one worker Deployment, rendered {len(workers)}"
        return workers[0]["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container of a pod, init containers included, by name."""
    every = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    return {c["name"]: c for c in every}


def names(items: list[dict[str, Any]] | None) -> list[str]:
    return [item["name"] for item in items or []]


def volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod.get("volumes") or []}


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container.get("volumeMounts") or []}


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports") or []}


def flags(container: dict[str, Any], flag: str) -> list[str]:
    """The values of every `--flag=value` argument of a container."""
    prefix = f"--{flag}="
    return [a[len(prefix):] for a in container.get("args") or [] if a.startswith(prefix)]
