"""Fixtures for the Helm chart tests: render with Helm's own engine (helm-python-sdk, no
helm binary), validate against the Kubernetes schemas (kubernetes-validate), offline."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chart_render import CHART_DIR, NATIVE_SIDECAR_KUBE, WORKER_CHART_DIR, Rendered, need


@pytest.fixture(scope="session")
def helm() -> ModuleType:
    return need("helm_python", "helm-python-sdk==0.2.2")


@pytest.fixture(scope="session")
def yaml() -> ModuleType:
    return need("yaml", "PyYAML")


@pytest.fixture(scope="session")
def kube() -> ModuleType:
    return need("kubernetes_validate", "kubernetes-validate>=1.29")


@pytest.fixture(scope="session")
def kube_versions(kube: ModuleType) -> list[str]:
    """The oldest Kubernetes with native sidecars, and the newest the schemas know."""
    return [NATIVE_SIDECAR_KUBE, kube.latest_version()]


@pytest.fixture(scope="session")
def render(helm: ModuleType, yaml: ModuleType) -> Callable[..., Rendered]:
    """Render a chart offline, as `helm template` would, with values over its defaults."""

    def _render(values: dict[str, Any] | None = None, chart: Path = CHART_DIR) -> Rendered:
        with helm.Chart.load(chart) as loaded:
            files = loaded.render(values or {}, name="demo", namespace="ml", is_install=True)
        return Rendered(files, yaml)

    return _render


@pytest.fixture(scope="session")
def kube_errors(kube: ModuleType) -> Callable[[list[dict[str, Any]], str], list[str]]:
    """Every way manifests break one Kubernetes version's schema (strict: no unknown fields)."""

    def _errors(manifests: list[dict[str, Any]], version: str) -> list[str]:
        found = []
        for manifest in manifests:
            where = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
            try:
                kube.validate(manifest, version, strict=True)
            except kube.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path) or "<root>"
                found.append(f"{where} at {path}: {exc.message} (Kubernetes {version})")
            except kube.SchemaNotFoundError as exc:
                found.append(f"{where}: {exc.message}")
        return found

    return _errors


@pytest.fixture
def worker_chart(helm: ModuleType, tmp_path: Path) -> Iterator[Path]:
    """The test worker chart, with its file:// dependency on helm/maytrain resolved.

    Both charts are copied into a temporary tree laid out like the repository, so the
    relative file:// path in its Chart.yaml is the one under test, and Chart.lock and
    charts/ are written there rather than into the repository.
    """
    chart = tmp_path / "tests" / "helm" / "worker-chart"
    shutil.copytree(WORKER_CHART_DIR, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    shutil.copytree(CHART_DIR, tmp_path / "helm" / "maytrain")
    helm.dependency_update(chart)
    yield chart
