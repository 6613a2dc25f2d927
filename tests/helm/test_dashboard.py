"""The Grafana dashboard shipped with the chart asks only for metrics the sidecar exports,
and shows every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from chart_render import CHART_DIR
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.observability.metrics import NAMES, CacheView, Metrics

DASHBOARD = json.loads((CHART_DIR / "dashboards" / "maytrain.json").read_text())
METRIC = re.compile(r"\bmaytrain_[a-z_]+")


def queries(node: Any) -> Iterator[str]:
    """Every PromQL text in the dashboard: panel targets and variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield value if isinstance(value, str) else value.get("query", "")
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for child in node:
            yield from queries(child)


def exported_series() -> set[str]:
    """The sample names a sidecar's /metrics holds (with _total, _bucket, _sum, _count)."""
    metrics = Metrics("sha256:test", CacheView(index=lambda: None, serving=lambda: True,
                                               clock=lambda: 0))
    text = generate_latest(metrics.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_dashboard_references_only_exported_metrics():
    used = {name for text in queries(DASHBOARD) for name in METRIC.findall(text)}

    assert used and used <= exported_series()


def test_the_dashboard_shows_every_metric():
    used = " ".join(queries(DASHBOARD))

    assert [name for name in NAMES if name not in used] == []


def test_every_panel_reads_the_chosen_data_source():
    panels = [p for p in DASHBOARD["panels"] if p["type"] != "row"]

    assert panels and all(p["datasource"]["uid"] == "${datasource}" for p in panels)
    assert {v["name"] for v in DASHBOARD["templating"]["list"]} >= {"datasource", "namespace"}
