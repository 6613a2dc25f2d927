"""grpc.health.v1 as the protocol says: watchers hear of a change once, and List answers.

The stock servicer pushes every `set()` to every watcher, so a status set every 0.2 s sent
five identical messages a second; and it advertised `List` without serving it.
"""

from __future__ import annotations

import threading
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthReporter(health.HealthServicer):  # type: ignore[misc]
    """The health servicer, sending a status only when it changes."""

    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=True)
        self._statuses: dict[str, Any] = {}
        self._lock = threading.Lock()

    def set(self, service: str, status: Any) -> None:
        """Record `status` for `service`; watchers hear of it only if it is new."""
        with self._lock:
            if self._statuses.get(service) == status:
                return
            self._statuses[service] = status
        super().set(service, status)

    def List(self, request: health_pb2.HealthListRequest,
             context: grpc.ServicerContext) -> health_pb2.HealthListResponse:
        """Every service this sidecar reports, with its status now."""
        with self._lock:
            statuses = dict(self._statuses)
        response = health_pb2.HealthListResponse()
        for service, status in statuses.items():
            response.statuses[service].status = status
        return response
