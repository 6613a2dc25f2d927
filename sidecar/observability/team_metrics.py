"""/metrics for a sidecar of several workers: worker 0 answers with every worker's series.

One port cannot be served by several processes meaningfully (each scrape would reach one
of them at random), so only worker 0 listens on `--metrics-listen`; every other worker
serves its own registry on a loopback port of its own. At each scrape worker 0 reads those
and answers with its series and theirs, each labelled `worker`, so sums over the label are
the sidecar's. A worker that does not answer in time is left out of that scrape.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("maytrain.metrics")
SCRAPE_TIMEOUT = 2.0  # seconds for one worker's page


class TeamCollector:
    """Collects this worker's registry and the other workers' pages, merged by family."""

    def __init__(self, own: CollectorRegistry, index: int,
                 peers: Callable[[], Mapping[int, int]]) -> None:
        self.own, self.index, self.peers = own, index, peers

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        _merge(merged, self.own.collect(), self.index)
        for worker, port in sorted(self.peers().items()):
            page = _page(worker, port)
            if page is not None:
                _merge(merged, text_string_to_metric_families(page), worker)
        yield from merged.values()


def team_registry(own: CollectorRegistry, index: int,
                  peers: Callable[[], Mapping[int, int]]) -> CollectorRegistry:
    """A registry to serve in place of `own`: every worker's series, labelled."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TeamCollector(own, index, peers))
    return registry


def _merge(merged: dict[str, Metric], families: Iterable[Metric], worker: int) -> None:
    label = str(worker)
    for family in families:
        into = merged.get(family.name)
        if into is None:
            into = merged[family.name] = Metric(family.name, family.documentation, family.type,
                                                family.unit)
        for sample in family.samples:
            into.add_sample(sample.name, {**sample.labels, "worker": label}, sample.value,
                            sample.timestamp)


def _page(worker: int, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=SCRAPE_TIMEOUT) as answer:
            return str(answer.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("metrics of worker %d (port %d) left out of this scrape: %s", worker, port,
                    exc)
        return None
