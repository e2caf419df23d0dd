"""What a call says about its caller, from request metadata."""

from __future__ import annotations

import grpc

from modelreg_server.service import validation

ACTOR_METADATA = "modelreg-actor"
ANONYMOUS = "anonymous"


def actor(context: grpc.aio.ServicerContext) -> str:
    """Who is calling. Until API keys exist this is what the client says it is."""
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA and isinstance(value, str) and value:
            return validation.text(value, f"metadata {ACTOR_METADATA}")
    return ANONYMOUS
