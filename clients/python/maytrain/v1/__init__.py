"""Generated protobuf and gRPC stubs for the maytrain.v1 API (see protos/maytrain/v1)."""
