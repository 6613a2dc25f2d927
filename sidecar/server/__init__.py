"""The gRPC transport: maps maytrain.v1 messages to the core and back; health, reflection.

It answers from an index source (`IndexSource`) and knows nothing of the store or sync;
`sidecar.runtime` composes the process around it.
"""

from .service import SERVICE_NAME, ConsentCheckService, IndexSource
from .transport import GrpcTransport

__all__ = ["SERVICE_NAME", "ConsentCheckService", "GrpcTransport", "IndexSource"]
