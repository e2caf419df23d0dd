"""What a call says about its caller: its API key's principal (set by the
pipeline's authentication, transport/auth.py), or, without keys, the actor it
declares in request metadata."""

from __future__ import annotations

import grpc

from modelreg_server.domain.access import Principal
from modelreg_server.permissions import project_of
from modelreg_server.service import validation
from modelreg_server.transport.handlers import CURRENT

ACTOR_METADATA = "modelreg-actor"
ANONYMOUS = "anonymous"


def caller() -> Principal | None:
    """The key of the current call, if it came with one the server accepted."""
    call = CURRENT.get()
    return None if call is None else call.principal


def visible(name: str) -> bool:
    """Whether the caller may see the resource ``name``: always without a key or
    with a server admin key; else only names in the key's project. For answers
    that walk across references into other projects (lineage, batches)."""
    principal = caller()
    if principal is None or principal.project is None:
        return True
    project = project_of(name)
    return project is None or project == principal.project


def actor(context: grpc.aio.ServicerContext) -> str:
    """Who is calling: the owner of the call's API key when it has one (a key's
    owner cannot be overridden by metadata); else what the client says it is."""
    principal = caller()
    if principal is not None:
        return principal.owner
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA and isinstance(value, str) and value:
            return validation.text(value, f"metadata {ACTOR_METADATA}")
    return ANONYMOUS
