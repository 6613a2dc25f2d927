"""The gRPC transport: maps maytrain.v1 messages to the core and back; health, reflection."""

from .app import Sidecar
from .service import SERVICE_NAME, ConsentCheckService

__all__ = ["SERVICE_NAME", "ConsentCheckService", "Sidecar"]
