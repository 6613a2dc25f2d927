"""maytrain client: Python stubs for the maytrain consent-check gRPC API."""
