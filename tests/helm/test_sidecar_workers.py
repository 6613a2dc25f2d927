"""The chart's `sidecar.workers`: one serving process unless said otherwise, never more than
one on the unix socket the worker reaches it through."""

from __future__ import annotations

import pytest
from chart_render import SIDECAR, containers


def sidecar_flags(render, values) -> list[str]:
    return [a for a in containers(render(values).pod())[SIDECAR]["args"]
            if a.startswith("--workers")]


def test_one_worker_by_default_whatever_the_node_has(render) -> None:
    # Without a CPU limit the sidecar's own default would be every core of the node.
    assert sidecar_flags(render, {}) == ["--workers=1"]


def test_workers_on_the_tcp_transport(render) -> None:
    values = {"sidecar": {"transport": "tcp", "workers": 2}}
    assert sidecar_flags(render, values) == ["--workers=2"]


def test_null_leaves_it_to_the_cpu_limit(render) -> None:
    assert sidecar_flags(render, {"sidecar": {"transport": "tcp", "workers": None}}) == []


def test_several_workers_on_the_unix_socket_are_refused(helm, render) -> None:
    with pytest.raises(helm.HelmError, match="needs sidecar.transport"):
        render({"sidecar": {"workers": 2}})
