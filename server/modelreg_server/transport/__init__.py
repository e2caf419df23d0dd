"""gRPC transport: servicers, proto <-> domain conversion, status mapping."""
