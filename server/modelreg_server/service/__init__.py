"""Use cases: validation, one transaction per call, idempotency. No grpc, no protobuf."""
